# Only the parts of llhttp's C API that _http.pyx calls (llhttp 9.3, llhttp.h).
# cimported as a namespace: `from fastsnake cimport _llhttp as llhttp`.

from libc.stdint cimport uint8_t, uint16_t, uint64_t


cdef extern from "llhttp.h":
    ctypedef struct llhttp_t:
        void* data
        uint64_t content_length
        uint8_t method
        uint8_t http_major
        uint8_t http_minor
        uint8_t upgrade
        uint16_t flags

    ctypedef int (*llhttp_data_cb)(llhttp_t*, const char* at, size_t length) noexcept
    ctypedef int (*llhttp_cb)(llhttp_t*) noexcept

    ctypedef struct llhttp_settings_t:
        llhttp_cb on_message_begin
        llhttp_data_cb on_url
        llhttp_data_cb on_header_field
        llhttp_data_cb on_header_value
        llhttp_cb on_headers_complete
        llhttp_data_cb on_body
        llhttp_cb on_message_complete
        llhttp_cb on_header_value_complete

    ctypedef enum llhttp_type_t:
        HTTP_REQUEST

    ctypedef enum llhttp_errno_t:
        HPE_OK
        HPE_PAUSED
        HPE_PAUSED_UPGRADE
        HPE_USER
        HPE_INVALID_TRANSFER_ENCODING
        HPE_UNEXPECTED_CONTENT_LENGTH
        HPE_INVALID_CONTENT_LENGTH
        HPE_INVALID_METHOD
        HPE_INVALID_VERSION

    ctypedef enum llhttp_flags_t:
        F_CHUNKED
        F_CONTENT_LENGTH
        F_TRANSFER_ENCODING

    ctypedef enum llhttp_method_t:
        HTTP_HEAD
        HTTP_CONNECT

    void llhttp_init(llhttp_t* parser, llhttp_type_t type, const llhttp_settings_t* settings)
    void llhttp_settings_init(llhttp_settings_t* settings)
    llhttp_errno_t llhttp_execute(llhttp_t* parser, const char* data, size_t length)
    llhttp_errno_t llhttp_finish(llhttp_t* parser)
    int llhttp_should_keep_alive(const llhttp_t* parser)
    int llhttp_message_needs_eof(const llhttp_t* parser)
    void llhttp_resume(llhttp_t* parser)
    void llhttp_resume_after_upgrade(llhttp_t* parser)
    llhttp_errno_t llhttp_get_errno(const llhttp_t* parser)
    const char* llhttp_get_error_reason(const llhttp_t* parser)
    const char* llhttp_get_error_pos(const llhttp_t* parser)
    const char* llhttp_method_name(llhttp_method_t method)
    void llhttp_set_error_reason(llhttp_t* parser, const char* reason)
