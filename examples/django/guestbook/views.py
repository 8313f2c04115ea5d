"""A guestbook whose entries live in the visitor's (signed cookie) session."""

from django import forms
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

# A signed cookie must stay under the browsers' 4 KB limit.
MAX_ENTRIES = 10


class EntryForm(forms.Form):
    name = forms.CharField(max_length=40)
    message = forms.CharField(max_length=200, widget=forms.Textarea(attrs={"rows": 3}))


def page(request, form, status=200):
    entries = request.session.get("entries", [])
    return render(request, "guestbook/index.html",
                  {"form": form, "entries": entries, "count": len(entries)}, status=status)


@require_GET
def index(request):
    return page(request, EntryForm())


@require_POST
def sign(request):
    # CsrfViewMiddleware has already checked the form's csrfmiddlewaretoken
    # against the csrftoken cookie: a POST without it gets 403.
    form = EntryForm(request.POST)
    if not form.is_valid():
        return page(request, form, status=400)
    entries = request.session.get("entries", [])
    entries.append(form.cleaned_data)
    request.session["entries"] = entries[-MAX_ENTRIES:]
    return redirect("index")  # Post/Redirect/Get: a reload does not post twice


@require_POST
def forget(request):
    request.session.flush()
    return redirect("index")
