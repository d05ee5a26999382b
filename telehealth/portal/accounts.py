"""Log-in, log-out, volunteer sign-up and the language switch."""
from __future__ import annotations

from functools import lru_cache
from typing import Dict, List, Tuple

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import update

from telehealth import doctors
from telehealth.db import PortalUser
from telehealth.i18n import PORTAL_LOCALES
from telehealth.matching import WEEKDAYS
from telehealth.portal import Account, client_ip, db_session, home_for, safe_next, t

bp = Blueprint("accounts", __name__)

#: Councils offered in the sign-up form's suggestions (any other council may be typed).
COUNCILS = ("PMDC", "GMC (UK)", "ECFMG (USA)", "MCI/NMC (India)", "SCFHS (Saudi Arabia)", "DHA (UAE)",
            "MCC (Canada)", "AHPRA (Australia)", "IMC (Ireland)")
SIGNUP_FIELDS = ("email", "name", "registration_number", "council", "specialty", "gender", "country", "city",
                 "timezone", "whatsapp_number", "phone_number", "capacity")


@lru_cache(maxsize=1)
def timezones() -> List[str]:
    from zoneinfo import available_timezones

    return sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


def parse_weekly(form) -> Tuple[Dict[str, List[List[str]]], bool]:
    """The weekly hours from the form (one slot a day; empty: any time) and whether they are valid."""
    weekly: Dict[str, List[List[str]]] = {}
    ok = True
    for day in WEEKDAYS:
        start, end = form.get(f"from_{day}", "").strip(), form.get(f"to_{day}", "").strip()
        if not start and not end:
            continue
        if not (_is_hhmm(start) and _is_hhmm(end)) or start == end:
            ok = False
            continue
        weekly[day] = [[start, end]]
    return weekly, ok


def _is_hhmm(value: str) -> bool:
    return len(value) == 5 and value[2] == ":" and value[:2].isdigit() and value[3:].isdigit() \
        and int(value[:2]) < 24 and int(value[3:]) < 60


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    status = 200
    email = ""
    if request.method == "POST":
        email = request.form.get("email", "")
        try:
            with db_session() as s:
                user = doctors.authenticate(s, email, request.form.get("password", ""), client_ip())
                account = None
                if user is not None:
                    chosen = session.get("locale")  # a language picked before logging in wins
                    if chosen in PORTAL_LOCALES:
                        user.ui_locale = chosen
                    doctor = doctors.doctor_for_user(s, user.id) if user.role == "doctor" else None
                    account = Account(user.id, user.email, user.role, user.ui_locale, doctor.id if doctor else None)
        except doctors.LoginThrottled:
            flash(t("login_throttled"), "error")
            return render_template("login.html", email=email), 429
        if account is not None:
            session.clear()  # a fresh session at log-in
            login_user(account)
            return redirect(safe_next(request.args.get("next"), home_for(account)))
        flash(t("login_failed"), "error")
        status = 401
    return render_template("login.html", email=email), status


@bp.post("/logout")
@login_required
def logout():
    locale = g.locale
    logout_user()
    session.clear()
    session["locale"] = locale
    flash(t("logged_out"), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = request.form
    errors: Dict[str, str] = {}
    if request.method == "POST":
        weekly, weekly_ok = parse_weekly(form)
        try:
            capacity = int(form.get("capacity") or 0)
        except ValueError:
            capacity = 0
        reg = doctors.Registration(
            email=form.get("email", ""), password=form.get("password", ""), name=form.get("name", ""),
            registration_number=form.get("registration_number", ""), council=form.get("council", ""),
            gender=form.get("gender", ""), languages=form.getlist("languages"),
            whatsapp_number=form.get("whatsapp_number", ""), phone_number=form.get("phone_number", ""),
            specialty=form.get("specialty", ""), country=form.get("country", "").strip().upper(),
            city=form.get("city", ""), timezone=form.get("timezone", ""), weekly_availability=weekly,
            capacity=capacity, ui_locale=g.locale,
        )
        try:
            if not weekly_ok:
                with db_session() as s:
                    errors = doctors.validate(reg, s)
                errors["weekly_availability"] = "invalid"
            else:
                with db_session() as s:
                    doctors.register(s, reg)
        except doctors.RegistrationError as exc:
            errors = exc.errors
        if not errors:
            flash(t("signup_done"), "info")
            return redirect(url_for("accounts.login"))
    values = {name: form.get(name, "") for name in SIGNUP_FIELDS}
    values.setdefault("council", "")
    if request.method == "GET":
        values.update(council="PMDC", country="PK", timezone="Asia/Karachi", capacity="2")
    return render_template(
        "signup.html", errors=errors, values=values, chosen_languages=form.getlist("languages"),
        weekly={d: (form.get(f"from_{d}", ""), form.get(f"to_{d}", "")) for d in WEEKDAYS},
        languages=doctors.DOCTOR_LANGUAGES, genders=doctors.GENDERS, weekdays=WEEKDAYS, timezones=timezones(),
        councils=COUNCILS, min_password=doctors.MIN_PASSWORD,
    ), (400 if errors else 200)


@bp.post("/language")
def language():
    chosen = request.form.get("locale", "en")
    if chosen in PORTAL_LOCALES:
        session["locale"] = chosen
        if current_user.is_authenticated:
            with db_session() as s:
                s.execute(update(PortalUser).where(PortalUser.id == current_user.id).values(ui_locale=chosen))
    return redirect(safe_next(request.form.get("next"), url_for("index")))
