"""The doctor's pages: dashboard (availability, offers refreshed live, consults in progress),
a consult (screening summary, accept, call links, outcome) and the history.

A doctor sees only requests offered to them now and their own consults; every page that shows a
request's details writes a ``view_consult`` audit entry per request shown.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from telehealth import consults, notify
from telehealth.db import ConsultRequest, Doctor
from telehealth.doctors import VERIFIED, audit, set_available
from telehealth.matching import available_now
from telehealth.phones import digits, display
from telehealth.portal import PAGE_SIZE, client_ip, db_session, role_required, t
from telehealth.portal import queries
from telehealth.privacy import decrypt

bp = Blueprint("doctor", __name__, url_prefix="/doctor")
NOTES_MAX = 2000


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _audit_views(session, requests: Iterable[ConsultRequest]) -> None:
    for r in requests:
        audit(session, current_user.id, "view_consult", f"consult:{r.id}", client_ip())


def _page() -> int:
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


def _offers_context(session, doctor: Doctor, now: datetime) -> dict:
    offers = queries.open_offers(session, doctor.id) if doctor.status == VERIFIED else []
    _audit_views(session, (o.request for o in offers))
    return {"offers": offers, "now": now, "doctor": doctor, "at_capacity": doctor.open_consults >= doctor.capacity}


@bp.get("")
@role_required("doctor")
def dashboard():
    now = _now()
    with db_session() as s:
        doctor = s.get(Doctor, current_user.doctor_id)
        active = queries.active_consults(s, doctor.id)
        _audit_views(s, active)
        context = _offers_context(s, doctor, now)
        return render_template(
            "doctor/dashboard.html", active=active,
            in_hours=available_now(doctor.weekly_availability, doctor.timezone, now), **context,
        )


@bp.get("/offers")
@role_required("doctor")
def offers_fragment():
    """The list of offers alone: the dashboard fetches it every few seconds."""
    with db_session() as s:
        doctor = s.get(Doctor, current_user.doctor_id)
        return render_template("doctor/_offers.html", **_offers_context(s, doctor, _now()))


@bp.post("/availability")
@role_required("doctor")
def availability():
    wanted = request.form.get("available") == "1"
    with db_session() as s:
        doctor = s.get(Doctor, current_user.doctor_id)
        if wanted and doctor.status != VERIFIED:
            flash(t("availability_not_verified"), "error")
        else:
            set_available(s, doctor, wanted)
            audit(s, current_user.id, "available_on" if wanted else "available_off", f"doctor:{doctor.id}", client_ip())
            flash(t("availability_on" if wanted else "availability_off"), "info")
    return redirect(url_for("doctor.dashboard"))


@bp.get("/consults/<int:request_id>")
@role_required("doctor")
def consult(request_id: int):
    now = _now()
    with db_session() as s:
        found = queries.consult_for_doctor(s, request_id, current_user.doctor_id)
        if found is None:
            abort(404)
        req, offer_expires = found
        mine = req.doctor_id == current_user.doctor_id
        doctor = s.get(Doctor, current_user.doctor_id)
        if not mine and doctor.status != VERIFIED:  # offers made before a suspension are not theirs to see
            abort(404)
        number = decrypt(req.callback_number).decode() if mine and req.state == consults.ACCEPTED else None
        notes = decrypt(req.doctor_notes).decode() if mine and req.doctor_notes else ""
        _audit_views(s, [req])
        return render_template(
            "doctor/consult.html", req=req, mine=mine, offer_expires=offer_expires, now=now,
            screening=queries.screening_of(s, req), events=consults.event_log(s, req.id),
            number=number and display(number), wa_link=number and f"https://wa.me/{digits(number)}",
            tel_link=number and f"tel:{number}", notes=notes, outcomes=consults.OUTCOMES, notes_max=NOTES_MAX,
            doctor=doctor,
        )


@bp.post("/consults/<int:request_id>/accept")
@role_required("doctor")
def accept(request_id: int):
    try:
        with db_session() as s:
            req = consults.accept(s, request_id, current_user.doctor_id)
            doctor = s.get(Doctor, current_user.doctor_id, populate_existing=True)
            notify.doctor_accepted(s, req, doctor)
            audit(s, current_user.id, "accept_consult", f"consult:{request_id}", client_ip())
    except consults.AtCapacity:
        flash(t("accept_at_capacity"), "error")
        return redirect(url_for("doctor.dashboard"))
    except consults.AlreadyTaken:
        flash(t("accept_taken"), "error")
        return redirect(url_for("doctor.dashboard"))
    flash(t("accept_done"), "info")
    return redirect(url_for("doctor.consult", request_id=request_id))


@bp.post("/consults/<int:request_id>/outcome")
@role_required("doctor")
def outcome(request_id: int):
    chosen = request.form.get("outcome", "")
    notes = request.form.get("notes", "").strip()
    if chosen not in consults.OUTCOMES or len(notes) > NOTES_MAX:
        flash(t("outcome_invalid"), "error")
        return redirect(url_for("doctor.consult", request_id=request_id))
    try:
        with db_session() as s:
            req = consults.complete(s, request_id, current_user.doctor_id, chosen, notes)
            if req.state == consults.COMPLETED:
                notify.ask_feedback(s, req)
            elif req.state == consults.NO_ANSWER:
                notify.to_patient(s, req, "utter_consult_no_answer")
            audit(s, current_user.id, "record_outcome", f"consult:{request_id}", client_ip())
    except consults.ConsultError:
        flash(t("outcome_not_open"), "error")
        return redirect(url_for("doctor.dashboard"))
    flash(t("outcome_done"), "info")
    return redirect(url_for("doctor.history"))


@bp.get("/history")
@role_required("doctor")
def history():
    page = _page()
    with db_session() as s:
        doctor = s.get(Doctor, current_user.doctor_id)
        rows, total = queries.history(s, doctor.id, page, PAGE_SIZE)
        _audit_views(s, rows)
        return render_template("doctor/history.html", rows=rows, page=page, pages=max(1, -(-total // PAGE_SIZE)),
                               total=total, doctor=doctor)
