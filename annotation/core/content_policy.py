"""The site's Content-Security-Policy, one for every page.

No Django import: the settings build django-csp's configuration from it, and the browser tests'
static harness server sends the same header (tests/e2e/conftest.py), so harness pages run under
the policy the site has.

Only the site's own files run or style anything:
- script-src 'self': no inline script, no event-handler attributes, no eval. Our templates load
  every script from static/ (page data travels in `json_script` blocks, which are data, not
  code); htmx is told by a meta tag not to inject its indicator <style> and not to eval.
- style-src 'self', with no 'unsafe-inline', for <style> elements and style="" attributes alike:
  our templates and scripts use classes (scripts that position things set `element.style`,
  which a policy does not restrict), and render.js has KaTeX emit MathML, which needs no style
  attributes. Allowing inline styles would let any markup that slipped past the sanitizer draw
  over other rows (a fake "verified" banner), which is exactly what the clipping in app.css
  guards against. The one exception: pages made by other projects (Django admin, DRF's
  browsable API) may also use style="" attributes, see content_policy_middleware.py.
- img-src also allows data: URLs (icons inside Swagger UI's and the admin's stylesheets); they
  make no request.
- frame-ancestors 'none' (the pages are never framed, as X-Frame-Options: DENY also says),
  form-action 'self', base-uri 'none', object-src 'none'.
"""

SELF = "'self'"
NONE = "'none'"


def csp_directives(*, https: bool) -> dict[str, list[str]]:
    """The policy's directives; with https, browsers also upgrade any http:// subresource."""
    directives = {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
    if https:
        directives["upgrade-insecure-requests"] = []
    return directives


def csp_header(directives: dict[str, list[str]]) -> str:
    """The header value, written as django-csp writes it."""
    return "; ".join(" ".join([name, *values]) for name, values in directives.items())
