"""kotra-idp: the OpenID Connect provider behind KOTRA's trade-support sites."""

from __future__ import annotations

import gc
import re
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Flask, before_render_template, g, request
from flask_babel import get_locale, get_translations
from flask_wtf.csrf import CSRFError
from sqlalchemy.engine import make_url

from idp.config import PROJECT_ROOT, create_sqlite_file, load_settings
from idp.cookies import host_cookie_name, set_new_browser_cookie
from idp.extensions import babel, csrf, db
from idp.i18n import compile_catalogs
from idp.protocol import UI_LOCALES

# The page's own resources only. `form-action` is added per response (form_action_policy).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
# Pages a relying party never frames and whose URLs carry nothing for a third party.
HTML_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY + "; form-action 'self'",
    # same-origin, not no-referrer: our own form POSTs must carry a Referer, which Flask-WTF
    # requires over https (WTF_CSRF_SSL_STRICT); other sites still learn nothing (the
    # interaction's URL stays with us).
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
# RFC 6797 §6.1: one year; sent only when the issuer is https (browsers ignore it over http).
HSTS = "max-age=31536000"
# What a CSP host-source can express of an origin (CSP3 §2.3.1): no IPv6 literal, no userinfo.
_CSP_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def form_action_policy(target: str | None) -> str:
    """CSP `form-action` for a page whose form may end in a redirect to `target`.

    Chromium applies form-action (CSP Level 3, a navigation directive) to every redirect that
    follows a form submission too, and the login, consent and logout forms answer with a 303
    that leads to the relying party (its redirect_uri or post_logout_redirect_uri): that
    origin is allowed beside 'self' on those pages, and only there. A relying party whose
    callback redirects on to yet another origin would be stopped by the browser; keep the
    callback's redirect on its own origin.
    """
    if not target:
        return "form-action 'self'"
    parts = urlsplit(target)
    origin = f"{parts.scheme}://{parts.netloc}"
    if not _CSP_ORIGIN.fullmatch(origin):
        origin = f"{parts.scheme}:" if parts.scheme in ("http", "https") else ""
    return f"form-action 'self' {origin}".rstrip()


def _form_target(context: dict[str, Any]) -> str | None:
    """Where the form of a page being rendered may lead, from its template context: the
    pending authorization request's redirect_uri (login, consent), or a logout's registered
    post_logout_redirect_uri (logout confirmation)."""
    ia = context.get("ia")
    params = getattr(ia, "params", None)
    if isinstance(params, dict):
        return params.get("redirect_uri")
    client, logout = context.get("client"), context.get("params")
    if client is not None and isinstance(logout, dict):
        target = logout.get("post_logout_redirect_uri")
        if target and target in getattr(client, "post_logout_redirect_uris", ()):
            return str(target)
    return None


def _remember_form_target(sender: Flask, template: Any, context: dict[str, Any],
                          **extra: Any) -> None:
    target = _form_target(context)
    if target:
        g.form_target = target


def select_locale() -> str:
    """ui_locales of the pending request, then ?lang=, then the cookie; Korean first."""
    supported = UI_LOCALES
    explicit = request.args.get("lang")
    if explicit in supported:
        return explicit
    for tag in (getattr(g, "ui_locales", None) or request.args.get("ui_locales") or "").split():
        base = tag.split("-")[0].lower()
        if base in supported:
            return base
    cookie = request.cookies.get("idp_lang")
    return cookie if cookie in supported else "ko"


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Application factory: settings -> extensions -> provider -> blueprints."""
    settings = load_settings(overrides)
    create_sqlite_file(settings["database_url"])  # owner-only, before SQLite creates it
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    secure = settings["session"]["cookie_secure"]
    if secure == "auto":
        secure = settings["issuer"].startswith("https://")
    app.config.update(
        IDP_SETTINGS=settings,
        SECRET_KEY=settings["secret_key"],
        SQLALCHEMY_DATABASE_URI=settings["database_url"],
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings["database_url"]),
        # The CSRF token's cookie (Flask's session) is the host's alone too (idp/cookies.py).
        SESSION_COOKIE_NAME=host_cookie_name("idp_csrf", bool(secure)),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(secure),
        WTF_CSRF_TIME_LIMIT=settings["session"]["interaction_ttl"],
        # Over https (TLS at the app, or X-Forwarded-Proto from a trusted proxy) a form POST
        # must also carry a same-origin Referer: a second line behind the token and SameSite
        # (Referrer-Policy: same-origin lets browsers send it).
        WTF_CSRF_SSL_STRICT=True,
        IDP_HSTS=settings["issuer"].startswith("https://"),
        BABEL_TRANSLATION_DIRECTORIES=str(PROJECT_ROOT / "idp" / "translations"),
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    compile_catalogs()
    db.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)

    from idp.oidc.server import build_server
    from idp.wiring import build_provider

    app.extensions["idp"] = build_provider(settings)
    app.extensions["authlib.server"] = build_server(app)

    from idp.oidc.views import bp as oidc_bp
    from idp.web.views import bp as web_bp

    # Protocol endpoints authenticate clients, not browsers: no CSRF token there.
    csrf.exempt(oidc_bp)
    app.register_blueprint(oidc_bp)
    app.register_blueprint(web_bp)
    from idp.web.verification import bp as verify_bp

    app.register_blueprint(verify_bp)
    from idp.web.find_id import bp as find_id_bp

    app.register_blueprint(find_id_bp)
    if settings["env"] in ("development", "testing"):
        # Issue 6: the development outbox pages; absent (404) in production.
        from idp.web.dev_outbox import bp as dev_outbox_bp

        app.register_blueprint(dev_outbox_bp)
    from idp.web.my import bp as my_bp  # MY KOTRA (issue 6)

    app.register_blueprint(my_bp)
    from idp.web.password_reset import bp as reset_bp  # issue 6: 비밀번호 재설정

    app.register_blueprint(reset_bp)
    # Issue 9: SNS sign-in and simple sign-up; the vendors' emulators outside production.
    from idp.web.sns import bp as sns_bp

    app.register_blueprint(sns_bp)
    if settings["env"] != "production":
        from idp.web.sns_emulators import bp as sns_emulators_bp

        csrf.exempt(sns_emulators_bp)  # the vendors' token and API endpoints (its page checks)
        app.register_blueprint(sns_emulators_bp)
    if settings.get("env") in ("development", "testing"):
        # The emulated identity-verification popups (issue 6): never in production.
        from idp.web.identity_emulator import bp as idv_emulator_bp

        app.register_blueprint(idv_emulator_bp)
    from idp.web.identity_login import bp as identity_login_bp

    app.register_blueprint(identity_login_bp)
    from idp.web.interests import bp as interests_bp  # the interests picker's search (issue 6)

    app.register_blueprint(interests_bp)
    from idp.web.signup import bp as signup_bp  # 회원가입 (issue 6)

    app.register_blueprint(signup_bp)
    from idp.web.conversion import bp as conversion_bp  # 일반회원 전환 (issue 9)

    app.register_blueprint(conversion_bp)
    from idp.web.sns_find import bp as sns_find_bp  # SNS 찾기 (issue 9)

    app.register_blueprint(sns_find_bp)
    from idp.web.certificate import bp as certificate_bp  # 기업 범용인증서 (issue 7)

    app.register_blueprint(certificate_bp)
    # Issue 7, npki-browser: the 인증서찾기 widget (templates/certificate/_widget.html) is here;
    # pages that guarded its macro with `{% if npki_widget_available %}` show it.
    app.jinja_env.globals["npki_widget_available"] = True
    from idp.web.operator import bp as operator_bp  # issue 7: the operator console

    app.register_blueprint(operator_bp)
    if settings["env"] in ("development", "testing"):
        # Issue 7, registries: the tax office's status API emulator; never in production.
        from idp.web.nts_emulator import bp as nts_emulator_bp

        csrf.exempt(nts_emulator_bp)  # an API called by the adapter, not a browser form
        app.register_blueprint(nts_emulator_bp)
    if settings["env"] in ("development", "testing"):
        # Issue 7, NPKI verifier: the demo PKI's CRL (docs/npki.md); absent in production.
        from idp.web.npki_dev import bp as npki_dev_bp

        app.register_blueprint(npki_dev_bp)
    from idp.web.api import bp as api_bp  # 서비스·마일리지 API for relying parties (issue 7)

    csrf.exempt(api_bp)  # bearer tokens, no cookies: nothing for CSRF to protect
    app.register_blueprint(api_bp)
    from idp.web.company_register import bp as company_register_bp  # 기업정보 등록 (issue 7)

    app.register_blueprint(company_register_bp)
    from idp.web.company_console import bp as company_console_bp  # issue 7: 기업 MY KOTRA

    app.register_blueprint(company_console_bp)
    # Issue 7, affiliation: a member's step-up to certificate level (idp/web/affiliation.py).
    from idp.web.affiliation import bp as affiliation_bp

    app.register_blueprint(affiliation_bp)
    _register_hooks(app)
    from idp.oidc.lanes import Lanes

    app.wsgi_app = Lanes(app)  # type: ignore[method-assign]
    from idp.observability import install as observe

    observe(app)  # request ids, JSON logs, Prometheus metrics (issue 10); inside ProxyFix
    hops = settings["server"]["trusted_proxies"]
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # The client address (throttling, audit) from X-Forwarded-For and the scheme
        # (request.is_secure) from X-Forwarded-Proto, as set by our own proxies only.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops)
    return app


def create_server_app() -> Flask:
    """The app for a long-running server process (`idp serve` builds one per worker).

    Everything built at start-up (modules, metadata, compiled templates) is moved out of the
    garbage collector's generations (`gc.freeze`): the collector then only walks what requests
    allocate, a tenth of the CPU of a userinfo request otherwise.

    Each process also runs the back-channel logout worker, a thread that delivers queued
    logout tokens outside the requests (`backchannel_logout.worker`), and the mail worker,
    which sends the emails requests queued (idp/mail_worker.py).

    glibc's allocator is told to give large blocks back (`tune_malloc`) before anything is
    built, and the heap's free pages once it is (`trim_malloc`).
    """
    from idp.mail_worker import start_mail_worker
    from idp.oidc.logout import start_backchannel_worker

    tune_malloc()
    app = create_app()
    gc.collect()
    gc.freeze()
    trim_malloc()
    start_backchannel_worker(app)
    start_mail_worker(app)
    return app


# glibc mallopt(3) parameters (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value, kept fixed
ARENA_MAX = 2


def tune_malloc() -> bool:
    """Keep a worker's resident memory flat under load (issue 10: 100 MB per worker).

    Every password check (argon2id, m = 19 MiB) allocates one 19 MiB block. glibc serves
    blocks above its mmap threshold from fresh pages and unmaps them on free, but the first
    such free raises the threshold to the block's size (the "dynamic threshold"), so every
    later hash is carved from the heap and its 19 MiB stay resident for good (+20-24 MB per
    worker after one login). A fixed threshold turns that off: each hash maps and unmaps its
    block. Mapping it afresh costs page faults: 4,865 pages of 4 KiB, 8.5 ms of kernel time
    against a hash of 18-20 ms on the bench machine, unless the block is backed by transparent
    huge pages (266 faults, 2 ms): `idp serve` starts its workers with them
    (`serve_argv`). Most checks do not ask malloc at all: they reuse an area kept
    while sign-ins keep coming (idp/services/argon2_blocks.py); this is for the others.
    At most two arenas: a worker runs requests on one thread (`[server] threads`) beside the
    back-channel thread, so more arenas only hold more free memory.

    The same as MALLOC_MMAP_THRESHOLD_=131072 MALLOC_ARENA_MAX=2 in the environment, set
    here so that every worker gets it however it is started. False where the C library is
    not glibc (nothing is changed).
    """
    libc = _glibc()
    if libc is None:
        return False
    ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return bool(libc.mallopt(_M_ARENA_MAX, ARENA_MAX) == 1 and ok)


def trim_malloc() -> bool:
    """Give the heap's free pages back to the kernel (glibc's malloc_trim(0)), once the app is
    built.

    A worker imports about 950 modules. Where no bytecode for `python -OO` is cached
    (PYTHONDONTWRITEBYTECODE=1, which many container images set and this project's CI machine
    has; a read-only install without the compileall of docs/operations.md §1), it compiles
    them from source at every start, and the compiler's short-lived trees leave free pages
    all over the heap, below blocks that stay: glibc only gives back the top of the heap, so
    they stayed resident. On PostgreSQL + Redis that was 12 MB per worker (redis-py's modules
    alone: 23.5 MB at the peak of their import for 5.9 MB kept; docs/benchmarks.md, "Memory
    per worker"). malloc_trim(0) releases every free page (madvise(MADV_DONTNEED)), once, in
    2-3 ms: 8.5 of those 12 MB come back. With the bytecode cached (`make install` compiles
    it) there is little to give back. False where the C library is not glibc (nothing is
    done).
    """
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def _glibc() -> Any:
    """The C library, for its malloc tuning calls; None where it is not glibc."""
    import ctypes
    import ctypes.util
    import platform

    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


HUGE_PAGES_TUNABLE = "glibc.malloc.hugetlb"


def serve_argv(environ: MutableMapping[str, str], argv: list[str]) -> list[str] | None:
    """The command to run `idp serve` again with the environment its workers want, or None.

    Both settings are read only when a program starts, and the servers start their workers
    from this process, so `idp serve` sets them in `environ` and replaces itself (same pid)
    before it starts anything (docs/benchmarks.md, "Memory per worker"):

    - `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` (glibc 2.35+): malloc asks the kernel for
      transparent huge pages (madvise(MADV_HUGEPAGE)) on its large mappings, so the argon2id
      block that `tune_malloc` maps for each password check faults in 2 MiB at a time: 2 ms of
      kernel time per login instead of 8.5. The kernel must allow it (THP "madvise" or
      "always" in /sys/kernel/mm/transparent_hugepage/enabled); elsewhere it is inert. An
      operator's own GLIBC_TUNABLES is kept and extended; one that already names
      glibc.malloc.hugetlb (=0 turns this off) is left as it is.
    - `PYTHONOPTIMIZE=2` (python -OO): the modules are loaded without their docstrings, which
      are a fifth of their code's size: 5.5 MB less per worker, nothing read at run time (no
      request reads a docstring; the asserts it also drops narrow types for mypy or restate
      what the tests check). An operator's own PYTHONOPTIMIZE (0 turns this off) is left as
      it is.
    """
    import platform

    changed = False
    tunables = environ.get("GLIBC_TUNABLES", "")
    if platform.libc_ver()[0] == "glibc" and HUGE_PAGES_TUNABLE not in tunables:
        environ["GLIBC_TUNABLES"] = ":".join(filter(None, [tunables, f"{HUGE_PAGES_TUNABLE}=1"]))
        changed = True
    if "PYTHONOPTIMIZE" not in environ:
        environ["PYTHONOPTIMIZE"] = "2"
        changed = True
    return [sys.executable, *argv] if changed else None


def uncached_bytecode(sources: list[str], *, optimize: int, dont_write: bool) -> list[str]:
    """Those of `sources` (module files) whose bytecode for this optimisation level is neither
    cached nor going to be (PYTHONDONTWRITEBYTECODE, `python -B`): every worker compiles them
    at every start, 2 s of CPU instead of 0.6 for the whole provider, and holds more memory
    after (`trim_malloc`). `idp serve` warns about them (docs/operations.md §1)."""
    from importlib.util import cache_from_source

    if not dont_write:
        return []
    level = optimize or ""
    return [src for src in sources
            if not Path(cache_from_source(src, optimization=level)).exists()]


DATABASE_CONNECT_TIMEOUT = 5  # seconds


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 15}}
    # No pre-ping: it costs a round trip per request; stale connections are recycled instead
    # and a failed one is discarded by the pool on error.
    options: dict[str, Any] = {"pool_recycle": 300, "pool_size": 5, "max_overflow": 5}
    if "connect_timeout" not in make_url(url).query:
        # A database that does not answer (a hung host, a dropped route) fails the request in
        # seconds, as a 503 (idp/faults.py), instead of holding the worker for the TCP
        # timeout (minutes). A connect_timeout in the URL wins.
        options["connect_args"] = {"connect_timeout": DATABASE_CONNECT_TIMEOUT}
    return options


# Issue 7: the only pages that take an upload (the 사업자등록증 of a new company); each sets
# its own size limit before it parses the body (idp/web/company_register.py).
MULTIPART_ENDPOINTS = frozenset({"company_register.new"})


def _register_hooks(app: Flask) -> None:
    from flask import Response, render_template

    app.jinja_env.globals["get_locale"] = get_locale

    def refuse_multipart() -> tuple[str, int] | None:
        """Only MULTIPART_ENDPOINTS take an upload: any other multipart body is refused before
        anything parses it (werkzeug spools file parts to temporary files; a truncated one
        was left open)."""
        if request.mimetype == "multipart/form-data" and (
                request.endpoint not in MULTIPART_ENDPOINTS):
            return render_template("oidc/error.html", error="invalid_request",
                                   description="form-urlencoded bodies only"), 400
        return None

    # First of the before-request hooks: Flask-WTF's CSRF check would parse the body.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_multipart)

    def translations() -> Any:
        # Flask-Babel resolves the domain, locale and catalog at every call; a page makes
        # dozens of calls, so keep the catalog for the rest of the request.
        cached = getattr(request, "_idp_translations", None)
        if cached is None:
            cached = request._idp_translations = get_translations()  # type: ignore[attr-defined]
        return cached

    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
    )

    @app.template_global()
    def lang_url(code: str) -> str:
        """The current page in another language (keeps the other query parameters)."""
        args = request.args.to_dict()
        args["lang"] = code
        return "?" + urlencode(args)  # relative to the current page: never another host

    @app.template_global()
    def verification_methods() -> list[str]:
        from idp.web.verification import available_methods
        return available_methods()

    @app.template_global()
    def verification_label(method: str) -> str:
        from idp.web.verification import METHOD_LABELS
        return str(METHOD_LABELS.get(method, method))

    before_render_template.connect(_remember_form_target, app)

    @app.after_request
    def security_headers(resp: Response) -> Response:
        if app.config["IDP_HSTS"]:
            resp.headers["Strict-Transport-Security"] = HSTS
        if resp.mimetype == "text/html":
            resp.headers.update(HTML_SECURITY_HEADERS)
            resp.headers["Content-Security-Policy"] = (
                f"{CONTENT_SECURITY_POLICY}; {form_action_policy(g.get('form_target'))}")
            lang = request.args.get("lang")
            if lang in ("ko", "en"):
                from idp.cookies import cookies  # Secure on https: one place for all cookies
                cookies().lang.set(resp, lang)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        set_new_browser_cookie(resp)
        return resp

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> tuple[str, int]:
        return render_template("oidc/error.html", error="csrf"), 400

    @app.errorhandler(404)
    def not_found(exc: Exception) -> tuple[str, int]:
        return render_template("oidc/error.html", error="not_found"), 404

    @app.errorhandler(405)
    def not_allowed(exc: Exception) -> tuple[str, int]:
        return render_template("oidc/error.html", error="method_not_allowed"), 405

    @app.errorhandler(413)
    def too_large(exc: Exception) -> tuple[str, int]:
        return render_template("oidc/error.html", error="too_large"), 413

    # A dependency that is down (idp/faults.py) answers 503 with Retry-After, never 500.
    from idp.faults import outage_types, remove_session, unavailable_dependency
    from idp.web.unavailable import handle_outage, unavailable_page

    for kind in outage_types():  # after build_provider: the drivers in use are loaded
        app.register_error_handler(kind, handle_outage)

    @app.teardown_appcontext
    def end_session(exc: BaseException | None) -> None:
        # Runs before Flask-SQLAlchemy's own teardown (registered earlier), which then finds
        # nothing left to close.
        remove_session(db.session)

    @app.errorhandler(500)
    def server_error(exc: Exception) -> Any:
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001, S110 — a connection already gone: nothing to undo
            pass
        if unavailable_dependency(getattr(exc, "original_exception", None) or exc):
            return unavailable_page()  # an outage that escaped a view (a hook, a teardown)
        try:
            return render_template("oidc/error.html", error="server_error"), 500
        except Exception:  # noqa: BLE001 — the page of last resort must not fail
            return "<h1>일시적인 오류가 발생했습니다.</h1>", 500
