"""Extensions only; metadata lives in pyproject.toml.

build_ext options (also readable from the environment, for pip):
  --llhttp-src DIR      llhttp's C files from DIR (FASTSNAKE_LLHTTP_SRC)
  --use-system-llhttp   link the system's libllhttp instead of compiling it
  --cython-annotate     write Cython's HTML annotation next to each .pyx
  --debug-build         -O0 -g and Cython's line tracing off, asserts kept
"""

import os
import pathlib
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from buildtools.llhttp_source import LLHTTP_FILES, llhttp_source_dir  # noqa: E402

SRC = "src/fastsnake"


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "no")


class fastsnake_build_ext(build_ext):
    user_options = build_ext.user_options + [
        ("llhttp-src=", None, "folder with llhttp's api.c, http.c, llhttp.c, llhttp.h"),
        ("use-system-llhttp", None, "link against the system's libllhttp"),
        ("cython-annotate", None, "produce Cython HTML annotations"),
        ("debug-build", None, "build without optimisation, with symbols"),
    ]
    boolean_options = build_ext.boolean_options + [
        "use-system-llhttp", "cython-annotate", "debug-build"]

    def initialize_options(self):
        super().initialize_options()
        self.llhttp_src = None
        self.use_system_llhttp = env_flag("FASTSNAKE_USE_SYSTEM_LLHTTP")
        self.cython_annotate = env_flag("FASTSNAKE_CYTHON_ANNOTATE")
        self.debug_build = env_flag("FASTSNAKE_DEBUG_BUILD")

    def finalize_options(self):
        from Cython.Build import cythonize

        if not self.use_system_llhttp:
            lib = llhttp_source_dir(self.llhttp_src)
            http_ext = next(e for e in self.distribution.ext_modules if e.name.endswith("_http"))
            # Every module that cimports _http sees llhttp's struct layout.
            for ext in self.distribution.ext_modules:
                if str(lib) not in ext.include_dirs:
                    ext.include_dirs.append(str(lib))
            # finalize_options can run more than once (editable installs).
            for source in (str(lib / n) for n in LLHTTP_FILES if n.endswith(".c")):
                if source not in http_ext.sources:
                    http_ext.sources.append(source)
        else:
            for ext in self.distribution.ext_modules:
                if ext.name.endswith("_http") and "llhttp" not in ext.libraries:
                    ext.libraries.append("llhttp")
        extra = ["-O0", "-g", "-UNDEBUG"] if self.debug_build else ["-O2"]
        for ext in self.distribution.ext_modules:
            ext.extra_compile_args = [a for a in ext.extra_compile_args if a not in extra] + extra
        self.distribution.ext_modules = cythonize(
            self.distribution.ext_modules,
            annotate=self.cython_annotate,
            compiler_directives={"language_level": "3", "embedsignature": True,
                                 "boundscheck": False, "wraparound": False,
                                 "cdivision": True},
        )
        super().finalize_options()

    def run(self):
        super().run()
        self.build_watchdog()

    def build_watchdog(self):
        """csrc/watchdog.c as the program fastsnake-watchdog next to the
        extensions (``supervisor watchdog``). Statically linked where the C
        library allows it: a few hundred KiB of RSS less than a dynamic one.
        A failure is only a warning: the server refuses that option then."""
        from setuptools.errors import CompileError, LinkError

        if sys.platform == "win32":
            return
        target = SRC if self.inplace else os.path.join(self.build_lib, "fastsnake")
        os.makedirs(target, exist_ok=True)
        try:
            objects = self.compiler.compile(["csrc/watchdog.c"], output_dir=self.build_temp,
                                            extra_postargs=["-O2"])
        except CompileError as exc:
            self.warn(f"fastsnake-watchdog not built: {exc}")
            return
        for flags in (["-static", "-s"], ["-s"]):  # -s: no symbols, a smaller file
            try:
                self.compiler.link_executable(objects, "fastsnake-watchdog", output_dir=target,
                                              extra_postargs=flags)
                return
            except LinkError as exc:
                failure = exc
        self.warn(f"fastsnake-watchdog not built: {failure}")


setup(
    ext_modules=[
        Extension("fastsnake._exchange", [f"{SRC}/_exchange.pyx"]),
        Extension("fastsnake._http", [f"{SRC}/_http.pyx"]),
        Extension("fastsnake._wsgi", [f"{SRC}/_wsgi.pyx"]),
        Extension("fastsnake._asgi", [f"{SRC}/_asgi.pyx"]),
        Extension("fastsnake._websocket", [f"{SRC}/_websocket.pyx"]),
        Extension("fastsnake._respond", [f"{SRC}/_respond.pyx"]),
        Extension("fastsnake._relay", [f"{SRC}/_relay.pyx"]),
        Extension("fastsnake.routing._walk", [f"{SRC}/routing/_walk.pyx"]),
        Extension("fastsnake.routing._accessline", [f"{SRC}/routing/_accessline.pyx"]),
    ],
    cmdclass={"build_ext": fastsnake_build_ext},
)
