"""The administrator's pages: doctors by status (verify, reject or suspend with a reason; the doctor
is told on WhatsApp) and the queue's health."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from telehealth import notify
from telehealth.db import Doctor, PortalUser
from telehealth.doctors import (
    DOCTOR_STATUSES, REJECTED, SUSPENDED, VERIFIED, audit, languages_of, phone_number, set_status, whatsapp_number,
)
from telehealth.matching import queue_health
from telehealth.phones import display
from telehealth.portal import PAGE_SIZE, client_ip, db_session, role_required, t
from telehealth.portal import queries

bp = Blueprint("admin", __name__, url_prefix="/admin")

#: The button an administrator presses -> (the doctor's new status, the message they get).
ACTIONS = {"verify": (VERIFIED, "notify_verified"), "reject": (REJECTED, "notify_rejected"),
           "suspend": (SUSPENDED, "notify_suspended")}


def _page() -> int:
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


@bp.get("")
@role_required("admin")
def home():
    return redirect(url_for("admin.queue"))


@bp.get("/doctors")
@role_required("admin")
def doctors():
    status = request.args.get("status") or None
    if status not in (None, *DOCTOR_STATUSES):
        abort(404)
    page = _page()
    with db_session() as s:
        rows, total = queries.doctors_page(s, status, page, PAGE_SIZE)
        counts = queries.doctor_counts(s)
        return render_template("admin/doctors.html", rows=rows, status=status, statuses=DOCTOR_STATUSES,
                               counts=counts, page=page, pages=max(1, -(-total // PAGE_SIZE)))


@bp.get("/doctors/<int:doctor_id>")
@role_required("admin")
def doctor(doctor_id: int):
    with db_session() as s:
        doc = s.get(Doctor, doctor_id)
        if doc is None:
            abort(404)
        user = s.get(PortalUser, doc.user_id)
        audit(s, current_user.id, "view_doctor", f"doctor:{doc.id}", client_ip())
        return render_template("admin/doctor.html", doc=doc, email=user.email if user else "",
                               languages=languages_of(s, doc.id), whatsapp=display(whatsapp_number(doc)),
                               phone=display(phone_number(doc)), reason_error=False)


@bp.post("/doctors/<int:doctor_id>/status")
@role_required("admin")
def change_status(doctor_id: int):
    action = request.form.get("action", "")
    reason = request.form.get("reason", "").strip()[:500]
    if action not in ACTIONS:
        abort(400)
    status, key = ACTIONS[action]
    with db_session() as s:
        doc = s.get(Doctor, doctor_id)
        if doc is None:
            abort(404)
        if status in (REJECTED, SUSPENDED) and not reason:
            flash(t("reason_required"), "error")
            return redirect(url_for("admin.doctor", doctor_id=doctor_id))
        set_status(s, doc, status, current_user.id, reason, client_ip())
        notify.to_doctor(s, doc, key, **({"reason": reason} if reason and status != VERIFIED else {}))
    flash(t(f"status_changed_{status}", name=doc.name), "info")
    return redirect(url_for("admin.doctors"))


@bp.get("/queue")
@role_required("admin")
def queue():
    """Aggregates for the whole queue and the longest-waiting requests, a page at a time."""
    page = _page()
    now = datetime.now(timezone.utc)
    with db_session() as s:
        health = queue_health(s, now)
        total = sum(health.waiting.values())
        by_priority, by_locale = defaultdict(int), defaultdict(int)
        for (priority, locale), n in health.waiting.items():
            by_priority[priority] += n
            by_locale[locale] += n
        rows = queries.oldest_waiting(s, page, PAGE_SIZE)
        # The page shows no patient detail (no number, no screening): one entry for the page.
        audit(s, current_user.id, "view_queue", f"page:{page}", client_ip())
        return render_template(
            "admin/queue.html", health=health, total=total, by_priority=sorted(by_priority.items()),
            by_locale=sorted(by_locale.items(), key=lambda kv: -kv[1]), locales=sorted(by_locale),
            priorities=sorted(by_priority), rows=rows, now=now, page=page,
            pages=max(1, -(-total // PAGE_SIZE)),
        )
