"""Consult requests and matching (telehealth.consults, telehealth.matching, telehealth.dispatch,
telehealth.notify) on a real database: SQLite always, PostgreSQL when reachable (CI)."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from typing import Optional

import pytest
from sqlalchemy import select

from telehealth import consults, dispatch, doctors, matching, notify
from telehealth.consults import NewRequest
from telehealth.db import ConsultOffer, ConsultRequest, Doctor, WhatsAppInbound, WhatsAppOutbox, session_scope
from telehealth.privacy import decrypt, patient_ref
from tests.test_db import database_url  # noqa: F401  (the sqlite/postgresql fixture)

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)  # a Wednesday, 15:00 in Karachi
_seq = iter(range(10_000, 99_999))


def add_doctor(url, *, languages=("ur", "en"), gender="female", status="verified", available=True,
               capacity=2, tz="Asia/Karachi", weekly=None, name=None) -> int:
    n = next(_seq)
    with session_scope(url) as s:
        doctor = doctors.register(s, doctors.Registration(
            email=f"dr{n}@example.org", password="a long password", name=name or f"Dr {n}",
            registration_number=f"{n}-P", council="PMDC", gender=gender, languages=list(languages),
            whatsapp_number=f"0300{n:07d}", phone_number=f"0321{n:07d}", timezone=tz,
            weekly_availability=weekly or {}, capacity=capacity), now=NOW)
        doctor.status = status
        doctor.available = available
        return doctor.id


def add_request(url, *, locale="ur", priority=3, gender=None, fallback=False, wa_id=None,
                created: Optional[datetime] = None) -> int:
    wa_id = wa_id or f"92300{next(_seq):07d}"
    with session_scope(url) as s:
        request = consults.create_request(s, NewRequest(
            patient_ref=patient_ref(wa_id), contact=wa_id, channel="whatsapp", callback_number="+" + wa_id,
            call_type="whatsapp", locale=locale, language_fallback=fallback, gender_preference=gender,
            priority=priority), now=created or NOW)
        return request.id


def offer(url, request_id, now=NOW):
    with session_scope(url) as s:
        return dispatch.offer_new(s, s.get(ConsultRequest, request_id), now)


def state(url, request_id) -> str:
    with session_scope(url) as s:
        return s.get(ConsultRequest, request_id).state


# ----- the state machine --------------------------------------------------------------------

def test_every_transition_not_in_the_table_is_refused(database_url):
    rid = add_request(database_url)
    with session_scope(database_url) as s:
        request = s.get(ConsultRequest, rid)
        for target in (consults.COMPLETED, consults.NO_ANSWER):
            with pytest.raises(consults.InvalidTransition):
                consults.transition(s, request, target, "system")
        consults.transition(s, request, consults.CANCELLED, "patient")
        for target in consults.STATES:
            with pytest.raises(consults.InvalidTransition):
                consults.transition(s, request, target, "system")


def test_a_patient_has_one_open_request_at_a_time(database_url):
    add_request(database_url, wa_id="923001111111")
    with pytest.raises(consults.AlreadyOpen):
        add_request(database_url, wa_id="923001111111")


def test_the_whole_life_of_a_request_is_in_the_event_log(database_url):
    doctor = add_doctor(database_url)
    rid = add_request(database_url)
    assert offer(database_url, rid) == [doctor]
    with session_scope(database_url) as s:
        consults.accept(s, rid, doctor, NOW)
    with session_scope(database_url) as s:
        consults.complete(s, rid, doctor, "isolate_at_home", "rest and fluids", NOW + timedelta(minutes=20))
    with session_scope(database_url) as s:
        log = [(e.from_state, e.to_state, e.actor) for e in consults.event_log(s, rid)]
        request = s.get(ConsultRequest, rid)
        assert decrypt(request.doctor_notes) == b"rest and fluids"
        assert s.get(Doctor, doctor).open_consults == 0
    assert log == [(None, "queued", "patient"), ("queued", "offered", "system"),
                   ("offered", "accepted", f"doctor:{doctor}"), ("accepted", "completed", f"doctor:{doctor}")]


def test_no_answer_outcome_ends_in_no_answer(database_url):
    doctor = add_doctor(database_url)
    rid = add_request(database_url)
    offer(database_url, rid)
    with session_scope(database_url) as s:
        consults.accept(s, rid, doctor, NOW)
        consults.complete(s, rid, doctor, "no_answer", "", NOW)
    assert state(database_url, rid) == "no_answer"


def test_only_the_doctor_it_was_offered_to_can_accept(database_url):
    offered, other = add_doctor(database_url), add_doctor(database_url, languages=("ps",))
    rid = add_request(database_url)
    assert offer(database_url, rid) == [offered]
    with pytest.raises(consults.AlreadyTaken):
        with session_scope(database_url) as s:
            consults.accept(s, rid, other, NOW)
    with session_scope(database_url) as s:
        assert s.get(Doctor, other).open_consults == 0   # the reservation was given back


def test_a_doctor_at_capacity_cannot_accept_more(database_url):
    doctor = add_doctor(database_url, capacity=1)
    first, second = add_request(database_url), add_request(database_url)
    offer(database_url, first)
    with session_scope(database_url) as s:
        consults.accept(s, first, doctor, NOW)
    # At capacity: not offered any more, and cannot accept even an old offer.
    assert offer(database_url, second) == []
    with session_scope(database_url) as s:
        s.add(ConsultOffer(request_id=second, doctor_id=doctor, offered_at=NOW, expires_at=NOW + timedelta(minutes=5)))
    with pytest.raises(consults.AtCapacity):
        with session_scope(database_url) as s:
            consults.accept(s, second, doctor, NOW)


def test_cancelling_an_accepted_request_frees_the_doctor(database_url):
    doctor = add_doctor(database_url)
    rid = add_request(database_url)
    offer(database_url, rid)
    with session_scope(database_url) as s:
        consults.accept(s, rid, doctor, NOW)
    with session_scope(database_url) as s:
        assert consults.cancel(s, s.get(ConsultRequest, rid), now=NOW) == doctor
    with session_scope(database_url) as s:
        assert s.get(Doctor, doctor).open_consults == 0
        assert s.get(ConsultRequest, rid).state == "cancelled"


def test_parallel_accepts_one_winner(database_url):
    """Eight doctors offered one request press accept at the same moment: exactly one wins."""
    ids = [add_doctor(database_url) for _ in range(8)]
    rid = add_request(database_url)
    with session_scope(database_url) as s:
        for doctor_id in ids:
            s.add(ConsultOffer(request_id=rid, doctor_id=doctor_id, offered_at=NOW, expires_at=NOW + timedelta(minutes=5)))
        consults.transition(s, s.get(ConsultRequest, rid), consults.OFFERED, "system")
    barrier = threading.Barrier(len(ids))
    results = {}

    def press(doctor_id):
        barrier.wait()
        try:
            with session_scope(database_url) as s:
                consults.accept(s, rid, doctor_id, NOW)
            results[doctor_id] = "won"
        except consults.ConsultError:
            results[doctor_id] = "lost"
        except Exception as exc:  # SQLite may report "database is locked" to a loser
            results[doctor_id] = f"error {type(exc).__name__}"

    threads = [threading.Thread(target=press, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [d for d, r in results.items() if r == "won"]
    assert len(winners) == 1, results
    if database_url.startswith("postgresql"):
        assert all(r in ("won", "lost") for r in results.values()), results
    with session_scope(database_url) as s:
        request = s.get(ConsultRequest, rid)
        assert request.state == "accepted" and request.doctor_id == winners[0]
        loads = {d.id: d.open_consults for d in s.execute(select(Doctor).where(Doctor.id.in_(ids))).scalars()}
        assert loads == {d: (1 if d == winners[0] else 0) for d in ids}
        accepted = s.execute(select(ConsultOffer).where(ConsultOffer.request_id == rid, ConsultOffer.state == "accepted")).scalars().all()
        assert [o.doctor_id for o in accepted] == winners


# ----- matching -----------------------------------------------------------------------------

def test_only_eligible_doctors_are_offered(database_url):
    good = add_doctor(database_url, languages=("ps",))
    add_doctor(database_url, languages=("ps",), status="pending")
    add_doctor(database_url, languages=("ps",), available=False)
    add_doctor(database_url, languages=("ur",))
    # Karachi 15:00 on Wednesday is outside 18:00-22:00.
    add_doctor(database_url, languages=("ps",), weekly={"wed": [["18:00", "22:00"]]})
    rid = add_request(database_url, locale="ps")
    assert offer(database_url, rid) == [good]


def test_weekly_hours_are_read_in_the_doctors_own_time_zone():
    weekly = {"wed": [["09:00", "17:00"]]}
    assert matching.available_now(weekly, "Asia/Karachi", NOW)          # 15:00 in Karachi
    assert not matching.available_now(weekly, "America/Toronto", NOW)   # 05:00 in Toronto
    assert matching.available_now({"tue": [["22:00", "06:00"]]}, "America/Toronto", NOW)  # past midnight
    assert matching.available_now({}, "Europe/London", NOW)


def test_roman_urdu_is_served_by_urdu_speakers(database_url):
    doctor = add_doctor(database_url, languages=("ur",))
    assert offer(database_url, add_request(database_url, locale="ur-Latn")) == [doctor]


def test_urdu_or_english_only_with_the_patients_consent(database_url):
    urdu = add_doctor(database_url, languages=("ur",))
    assert offer(database_url, add_request(database_url, locale="bal")) == []
    assert offer(database_url, add_request(database_url, locale="bal", fallback=True)) == [urdu]


def test_gender_preference_is_respected_when_such_a_doctor_is_free(database_url):
    male = add_doctor(database_url, gender="male")
    female = add_doctor(database_url, gender="female")
    assert offer(database_url, add_request(database_url, gender="female")) == [female]
    # No female doctor speaks Sindhi: the male doctor is offered rather than nobody.
    sindhi_male = add_doctor(database_url, gender="male", languages=("sd",))
    assert offer(database_url, add_request(database_url, locale="sd", gender="female")) == [sindhi_male]
    assert male


def test_load_is_spread_least_loaded_then_longest_since_last_offer(database_url, monkeypatch):
    monkeypatch.setenv("CONSULT_OFFER_FANOUT", "1")
    a, b, c = (add_doctor(database_url, languages=("pa",)) for _ in range(3))
    got = [offer(database_url, add_request(database_url, locale="pa"), NOW + timedelta(seconds=i))[0] for i in range(3)]
    assert sorted(got) == sorted([a, b, c])        # everyone gets one before anyone gets two
    with session_scope(database_url) as s:
        consults.accept(s, *[(rid, d) for rid, d in _offers_of(s, got[0])][0], now=NOW)
    nxt = offer(database_url, add_request(database_url, locale="pa"), NOW + timedelta(seconds=9))
    assert nxt != [got[0]]                          # the doctor busy with a consult comes last


def _offers_of(session, doctor_id):
    return session.execute(select(ConsultOffer.request_id, ConsultOffer.doctor_id)
                           .where(ConsultOffer.doctor_id == doctor_id)).all()


def test_expired_offers_move_on_to_the_next_doctors(database_url, monkeypatch):
    monkeypatch.setenv("CONSULT_OFFER_FANOUT", "1")
    first, second = add_doctor(database_url, languages=("ks",)), add_doctor(database_url, languages=("ks",))
    rid = add_request(database_url, locale="ks")
    assert offer(database_url, rid) == [first]
    with session_scope(database_url) as s:
        result = dispatch.run_round(s, NOW + timedelta(minutes=6))
    assert result.expired_offers == 1 and result.requeued == [rid]
    assert result.offers == [(rid, [second])]
    with pytest.raises(consults.AlreadyTaken):
        with session_scope(database_url) as s:
            consults.accept(s, rid, first, NOW + timedelta(minutes=7))   # too late


def test_queue_is_ordered_by_priority_then_waiting_time(database_url):
    old_low = add_request(database_url, priority=4, created=NOW - timedelta(minutes=30))
    new_high = add_request(database_url, priority=1, created=NOW)
    older_high = add_request(database_url, priority=1, created=NOW - timedelta(minutes=5))
    with session_scope(database_url) as s:
        positions = {rid: consults.queue_position(s, s.get(ConsultRequest, rid)) for rid in (old_low, new_high, older_high)}
    assert positions[older_high] < positions[new_high] < positions[old_low]


def test_wait_estimate_is_honest_when_no_doctor_is_online(database_url):
    rid = add_request(database_url, locale="sd")
    with session_scope(database_url) as s:
        assert consults.estimated_wait_minutes(s, s.get(ConsultRequest, rid), NOW) is None
    add_doctor(database_url, languages=("sd",))
    with session_scope(database_url) as s:
        assert consults.estimated_wait_minutes(s, s.get(ConsultRequest, rid), NOW) >= 5


# ----- notifications through the outbox -----------------------------------------------------

def _outbox_bodies(url, wa_id):
    with session_scope(url) as s:
        rows = s.execute(select(WhatsAppOutbox).where(WhatsAppOutbox.patient_ref == patient_ref(wa_id))
                         .order_by(WhatsAppOutbox.id)).scalars().all()
        return [json.loads(decrypt(r.payload)) for r in rows]


def test_the_patient_is_told_who_will_call_in_their_language(database_url):
    wa_id = "923005550001"
    with session_scope(database_url) as s:
        s.add(WhatsAppInbound(message_id="wamid.window", patient_ref=patient_ref(wa_id), received_at=NOW))
    doctor = add_doctor(database_url, name="Ayesha Siddiqui")
    rid = add_request(database_url, locale="ur-Latn", wa_id=wa_id)
    offer(database_url, rid)
    with session_scope(database_url) as s:
        request = consults.accept(s, rid, doctor, NOW)
        notify.doctor_accepted(s, request, s.get(Doctor, doctor), NOW + timedelta(minutes=1))
    [body] = _outbox_bodies(database_url, wa_id)
    assert body["type"] == "text" and body["to"] == wa_id
    assert "Ayesha Siddiqui" in body["text"]["body"] and "+92 300" in body["text"]["body"]
    # Should the window close before it goes out (Meta fails it with 131047), the template goes.
    with session_scope(database_url) as s:
        [row] = s.execute(select(WhatsAppOutbox).where(WhatsAppOutbox.patient_ref == patient_ref(wa_id))).scalars().all()
        template = json.loads(decrypt(row.fallback))
    assert template["template"]["name"] == "consult_accepted"
    assert "Ayesha Siddiqui" in [p["text"] for p in template["template"]["components"][0]["parameters"]]


def test_outside_the_24_hour_window_a_template_is_sent(database_url):
    wa_id = "923005550002"
    with session_scope(database_url) as s:
        s.add(WhatsAppInbound(message_id="wamid.old", patient_ref=patient_ref(wa_id), received_at=NOW - timedelta(hours=30)))
    rid = add_request(database_url, wa_id=wa_id)
    with session_scope(database_url) as s:
        notify.to_patient(s, s.get(ConsultRequest, rid), "utter_consult_sla", NOW, minutes=60)
    [body] = _outbox_bodies(database_url, wa_id)
    assert body["type"] == "template"
    assert body["template"]["name"] == "consult_no_doctor_yet"
    assert body["template"]["components"][0]["parameters"] == [{"type": "text", "text": "60"}]


def test_doctors_are_told_of_new_requests_and_patients_after_the_service_level(database_url, monkeypatch):
    monkeypatch.setenv("CONSULT_SLA_MINUTES", "60")
    doctor = add_doctor(database_url, languages=("ps",))
    wa_id = "923005550003"
    rid = add_request(database_url, locale="ps", wa_id=wa_id, created=NOW - timedelta(minutes=61))
    with session_scope(database_url) as s:
        result = dispatch.run_round(s, NOW)
        doctor_wa = doctors.whatsapp_number(s.get(Doctor, doctor)).lstrip("+")
    assert result.offers == [(rid, [doctor])] and result.sla_breached == [rid]
    assert _outbox_bodies(database_url, doctor_wa)          # the doctor was notified
    assert _outbox_bodies(database_url, wa_id)[0]["template"]["name"] == "consult_no_doctor_yet"
    with session_scope(database_url) as s:
        assert dispatch.run_round(s, NOW + timedelta(minutes=1)).sla_breached == []   # told once
