"""The volunteer doctors' web portal (port 8000): sign-up, verification, the doctor's dashboard
(offers, accept, call links, outcome, history) and the admin pages (doctors, queue health).

A thin Flask layer over the domain (``telehealth.doctors``, ``telehealth.consults``,
``telehealth.matching``, ``telehealth.notify``): each POST is one ``session_scope`` transaction
holding the change and its notification. Server-rendered Jinja2, English and Urdu
(``locales/portal/<locale>.yml`` through ``telehealth.i18n.portal_text``), CSRF on every POST
(Flask-WTF), sessions with Flask-Login, and an audit entry for every view of a patient's data.

``create_app(database_url=None, testing=False)`` builds the app; ``python -m telehealth.portal``
serves it with waitress (see ``__main__``).
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from datetime import datetime
from typing import Any, Callable, Optional
from urllib.parse import urlencode, urlsplit

from flask import Flask, abort, current_app, g, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect

from telehealth import db
from telehealth.doctors import doctor_for_user
from telehealth.i18n import PORTAL_LOCALES, portal_text
from telehealth.matching import _zone as zone  # the time zones matching uses (cached, UTC when unknown)
from telehealth.portal.queries import aware
from telehealth.privacy import ROOT, _local_secret

SECRET_FILE = ROOT / "var" / "portal_secret.key"
HERE = Path(__file__).resolve().parent
#: Page size of every paginated list.
PAGE_SIZE = 50


@dataclass
class Account(UserMixin):
    """The logged-in user as the portal keeps it for one request (not an ORM object)."""

    id: int
    email: str
    role: str
    ui_locale: str
    doctor_id: Optional[int]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def secret_key() -> str:
    env = os.environ.get("PORTAL_SECRET_KEY")
    if env:
        return env
    return _local_secret(SECRET_FILE, "PORTAL_SECRET_KEY", lambda: secrets.token_hex(32).encode("ascii")).decode()


def db_session():
    """One transaction on the portal's database (``with db_session() as session:``)."""
    return db.session_scope(current_app.config["DATABASE_URL"])


def client_ip() -> str:
    return request.remote_addr or ""


def t(key: str, **params: Any) -> str:
    """A portal string in the page's language."""
    return portal_text(key, getattr(g, "locale", "en"), **params)


def safe_next(target: Optional[str], default: str) -> str:
    """Only redirect to a path on this site (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return default


def role_required(role: str) -> Callable:
    """Anonymous users go to /login (Flask-Login); a logged-in user of another role gets 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if current_user.role != role or (role == "doctor" and current_user.doctor_id is None):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def home_for(account: Account) -> str:
    return url_for("admin.queue") if account.is_admin else url_for("doctor.dashboard")


def minutes_since(value: Optional[datetime], now: datetime) -> int:
    return max(0, int((now - aware(value)).total_seconds() // 60)) if value is not None else 0


def minutes_until(value: Optional[datetime], now: datetime) -> int:
    return max(0, int(-(-(aware(value) - now).total_seconds() // 60))) if value is not None else 0


def localtime(value: Optional[datetime], tz_name: str) -> str:
    """A time as the reader's clock shows it ("2026-05-01 14:05")."""
    if value is None:
        return "-"
    return aware(value).astimezone(zone(tz_name or "UTC")).strftime("%Y-%m-%d %H:%M")


def pager_query(page: int) -> str:
    """The current query string with another page number."""
    args = request.args.to_dict()
    args["page"] = str(page)
    return urlencode(args)


def create_app(database_url: Optional[str] = None, testing: bool = False) -> Flask:
    app = Flask(__name__, template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    app.config.update(
        DATABASE_URL=database_url or db.database_url(),
        SECRET_KEY=secret_key(),
        TESTING=testing,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("PORTAL_SECURE_COOKIES") == "1",
        REMEMBER_COOKIE_HTTPONLY=True,
        WTF_CSRF_ENABLED=True,  # on in tests too: a POST without the token is refused
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    if os.environ.get("PORTAL_TRUST_PROXY") == "1":  # behind one reverse proxy (X-Forwarded-For)
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)
    CSRFProtect(app)

    login_manager = LoginManager(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None  # the login page says enough

    @login_manager.user_loader
    def load_user(user_id: str) -> Optional[Account]:
        try:
            uid = int(user_id)
        except (TypeError, ValueError):
            return None
        with db_session() as s:
            user = s.get(db.PortalUser, uid)
            if user is None or not user.active:
                return None
            doctor = doctor_for_user(s, user.id) if user.role == "doctor" else None
            return Account(user.id, user.email, user.role, user.ui_locale, doctor.id if doctor else None)

    @app.before_request
    def choose_locale() -> None:
        if current_user.is_authenticated:
            g.locale = current_user.ui_locale
        else:
            g.locale = session.get("locale") or request.accept_languages.best_match(PORTAL_LOCALES) or "en"
        if g.locale not in PORTAL_LOCALES:
            g.locale = "en"

    @app.context_processor
    def template_helpers() -> dict:
        return {"t": t, "locale": g.get("locale", "en"), "text_dir": "rtl" if g.get("locale") == "ur" else "ltr",
                "portal_locales": PORTAL_LOCALES, "minutes_since": minutes_since, "minutes_until": minutes_until,
                "pager_query": pager_query}

    app.add_template_filter(localtime, "localtime")

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )
        if current_user.is_authenticated and request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"  # patients' data stays off shared caches
        return response

    def error_page(status: int, key: str):
        return render_template("error.html", message=t(key), status=status), status

    app.register_error_handler(CSRFError, lambda e: error_page(400, "error_csrf"))
    app.register_error_handler(403, lambda e: error_page(403, "error_forbidden"))
    app.register_error_handler(404, lambda e: error_page(404, "error_not_found"))

    from telehealth.portal import accounts, admin, doctor

    app.register_blueprint(accounts.bp)
    app.register_blueprint(doctor.bp)
    app.register_blueprint(admin.bp)

    @app.get("/")
    def index():
        if current_user.is_authenticated:
            return redirect(home_for(current_user))
        return redirect(url_for("accounts.login"))

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


__all__ = ["create_app", "Account", "PAGE_SIZE", "db_session", "t", "role_required", "client_ip", "safe_next"]
