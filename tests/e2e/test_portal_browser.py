"""The whole call-back loop: the doctors' portal in headless Chromium at phone size against the
real server (``python -m telehealth.portal`` with its dispatcher), and the patient on WhatsApp
through the real Rasa and action servers (signed webhooks in, messages read at the Cloud API
stand-in), all on one database: a doctor signs up, the administrator verifies them, the doctor
switches on; a patient does the symptom check and asks for a doctor in the chat; the request shows
up on the dashboard by itself; the doctor accepts (the patient is told who will call), "calls",
records the outcome, and the patient gets the feedback question and answers it.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from telehealth import consults, db
from telehealth.i18n import message, portal_text, render
from telehealth.privacy import patient_ref
from tests.e2e.conftest import E2E_KEYS, ROOT, _free_port, texts_of
from tests.e2e.test_sandbox_browser import browser  # noqa: F401  (the phone-sized Chromium fixture)

pytestmark = pytest.mark.e2e
ADMIN_EMAIL = "admin@portal.test"
DOCTOR_EMAIL = "ayesha@portal.test"
DOCTOR_PASSWORD = "a long enough password"
PATIENT = "923214567890"


@pytest.fixture
def portal(shared_database):
    """The portal server on the bot's database; yields (base url, database url, administrator password)."""
    work = Path(tempfile.mkdtemp(prefix="portal-e2e-"))
    port = _free_port()
    url = shared_database
    env = {**os.environ, **E2E_KEYS, "PYTHONPATH": str(ROOT), "DATABASE_URL": url, "PORTAL_PORT": str(port),
           "PORTAL_HOST": "127.0.0.1", "PORTAL_ADMIN_EMAIL": ADMIN_EMAIL, "PORTAL_SECRET_KEY": "e2e-portal-secret",
           "PORTAL_URL": f"http://127.0.0.1:{port}"}
    log = work / "portal.log"
    proc = subprocess.Popen([sys.executable, "-m", "telehealth.portal"], cwd=ROOT, env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the portal did not start:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        found = re.search(r"administrator \S+ with the password: (\S+)", log.read_text())
        assert found, "the first administrator's password is printed once"
        yield base, url, found.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    text = log.read_text(errors="replace")
    assert PATIENT not in text and PATIENT[2:] not in text, "no phone number in the log"
    assert text.count(found.group(1)) == 1, "the password is shown once"


def exchange(wa, send, settle: float = 1.0, timeout: float = 60) -> list:
    """Send one message as the patient; the bot's texts once its answer has arrived and settled."""
    before = len(wa.sent(PATIENT))
    send()
    deadline, last, count = time.monotonic() + timeout, time.monotonic(), before
    while time.monotonic() < deadline:
        now = len(wa.sent(PATIENT))
        if now != count:
            count, last = now, time.monotonic()
        elif count > before and time.monotonic() - last >= settle:
            break
        time.sleep(0.1)
    return texts_of(wa.sent(PATIENT))[before:]


def patient_requests_a_doctor(bot) -> int:
    """In the chat: symptoms told in Roman Urdu, the short check, then "talk to a doctor"."""
    wa = bot.whatsapp
    consult = lambda n: (lambda: wa.tap(PATIENT, f'/select_option{{"menu":"consult","option":"{n}"}}'))  # noqa: E731
    exchange(wa, lambda: wa.tap(PATIENT, '/choose_language{"language":"ur-Latn"}', kind="list_reply"))
    exchange(wa, lambda: wa.text(PATIENT, "mujhe 3 din se bukhar aur khansi hai"))
    exchange(wa, lambda: wa.tap(PATIENT, '/select_option{"menu":"screening","option":"2"}'))  # no danger sign
    exchange(wa, lambda: wa.text(PATIENT, "67"))                                          # age
    exchange(wa, lambda: wa.text(PATIENT, "0"))                                           # nothing else
    exchange(wa, lambda: wa.text(PATIENT, "pata nahi"))                                   # contact: not sure
    result = exchange(wa, lambda: wa.text(PATIENT, "2"))                                  # high blood pressure
    assert message("utter_result_high", "ur-Latn", reasons="")["text"].split("\n")[0][:20] in "\n".join(result)
    assert render("utter_ask_consult_consent", "ur-Latn") in exchange(wa, lambda: wa.tap(PATIENT, "/request_doctor"))
    exchange(wa, consult(1))          # share the screening: yes
    exchange(wa, consult(1))          # this WhatsApp number
    exchange(wa, consult(1))          # WhatsApp call
    queued = exchange(wa, lambda: wa.text(PATIENT, "lady doctor"))
    assert any(t.startswith(message("utter_consult_queued", "ur-Latn", position=1, minutes=0, number="",
                                    call_type="")["text"][:30]) for t in queued), queued
    with db.session_scope() as s:
        return consults.open_request_for(s, patient_ref(PATIENT)).id


def no_sideways_scrolling(driver) -> None:
    assert driver.execute_script("return document.documentElement.scrollWidth") <= 390, driver.current_url


def test_a_doctor_from_sign_up_to_the_outcome(bot, portal, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    base, url, admin_password = portal
    from selenium.common.exceptions import StaleElementReferenceException

    # A page may be replaced between finding an element and reading it (a redirect after a POST).
    wait = WebDriverWait(browser, 30, ignored_exceptions=(StaleElementReferenceException,))

    def shows(text: str) -> None:
        wait.until(lambda d: text in d.find_element(By.TAG_NAME, "main").text)
    find = browser.find_element

    def fill(name: str, value: str) -> None:
        field = find(By.NAME, name)
        field.clear()
        field.send_keys(value)

    def log_in(email: str, password: str) -> None:
        browser.get(base + "/login")
        fill("email", email)
        fill("password", password)
        find(By.CSS_SELECTOR, "#login-form button[type=submit]").click()

    def log_out() -> None:
        find(By.CSS_SELECTOR, "nav.menu form button").click()
        wait.until(lambda d: "/login" in d.current_url)

    # 1. A volunteer signs up on their phone.
    browser.get(base + "/signup")
    no_sideways_scrolling(browser)
    for name, value in {"email": DOCTOR_EMAIL, "password": DOCTOR_PASSWORD, "name": "Dr Ayesha Siddiqui",
                        "registration_number": "54321-P", "specialty": "Family medicine", "city": "Karachi",
                        "whatsapp_number": "0333 1234567", "phone_number": "021 35862000", "capacity": "2"}.items():
        fill(name, value)
    find(By.CSS_SELECTOR, "input[name=gender][value=female]").click()
    find(By.CSS_SELECTOR, "input[name=languages][value=ur]").click()
    find(By.CSS_SELECTOR, "input[name=languages][value=en]").click()
    Select(find(By.NAME, "timezone")).select_by_value("Asia/Karachi")
    find(By.CSS_SELECTOR, "#signup-form button[type=submit]").click()
    wait.until(lambda d: "/login" in d.current_url)
    shows(portal_text("signup_done", "en"))

    # 2. The administrator verifies them.
    log_in(ADMIN_EMAIL, admin_password)
    wait.until(lambda d: "/admin/queue" in d.current_url)
    no_sideways_scrolling(browser)
    browser.get(base + "/admin/doctors?status=pending")
    find(By.CSS_SELECTOR, "a.card.doctor.pending").click()
    wait.until(lambda d: d.find_elements(By.ID, "verify"))
    assert "Dr Ayesha Siddiqui" in find(By.TAG_NAME, "h1").text
    find(By.ID, "verify").click()
    wait.until(lambda d: "/admin/doctors" in d.current_url)
    shows(portal_text("status_changed_verified", "en", name="Dr Ayesha Siddiqui"))
    log_out()

    # 3. The doctor logs in and switches on.
    log_in(DOCTOR_EMAIL, DOCTOR_PASSWORD)
    wait.until(lambda d: d.current_url.endswith("/doctor"))
    find(By.ID, "toggle-available").click()
    wait.until(lambda d: d.find_element(By.ID, "availability-state").get_attribute("class") == "on")
    no_sideways_scrolling(browser)

    # 4. A patient asks for a call back; the offer appears without reloading the page.
    request_id = patient_requests_a_doctor(bot)
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, f"offer-{request_id}"))
    card = find(By.ID, f"offer-{request_id}").text
    assert portal_text("level_high", "en") in card and portal_text("comorbidity_hypertension", "en") in card

    # 5. Accept: the call links.
    find(By.CSS_SELECTOR, f"#offer-{request_id} button.accept").click()
    wait.until(lambda d: d.find_elements(By.ID, "call-whatsapp"))
    assert find(By.ID, "call-whatsapp").get_attribute("href") == f"https://wa.me/{PATIENT}"
    assert find(By.ID, "call-phone").get_attribute("href") == f"tel:+{PATIENT}"
    no_sideways_scrolling(browser)

    # 6. The outcome, with a note; the consult is in the history.
    find(By.CSS_SELECTOR, "input[name=outcome][value=advice_given]").click()
    find(By.ID, "notes").send_keys("Fluids, paracetamol; call 1122 if breathing gets worse.")
    find(By.CSS_SELECTOR, "#outcome-form button[type=submit]").click()
    wait.until(lambda d: "/doctor/history" in d.current_url)
    row = find(By.ID, f"history-{request_id}").text
    assert portal_text("outcome_advice_given", "en") in row

    # 7. The patient was told who would call, and now gets the feedback question and answers it.
    wa = bot.whatsapp
    deadline = time.monotonic() + 60
    feedback = render("utter_consult_feedback", "ur-Latn")
    while time.monotonic() < deadline and feedback not in texts_of(wa.sent(PATIENT)):
        time.sleep(0.2)
    texts = texts_of(wa.sent(PATIENT))
    assert feedback in texts
    assert any("Dr Ayesha Siddiqui" in t and "Karachi" in t and "+92 333 1234567" in t for t in texts)
    thanks = exchange(wa, lambda: wa.tap(PATIENT, '/consult_feedback{"rating":"5"}', kind="list_reply"))
    assert thanks == [render("utter_ask_feedback_comment", "ur-Latn")]
    assert exchange(wa, lambda: wa.text(PATIENT, "0")) == [render("utter_consult_feedback_thanks", "ur-Latn")]
    with db.session_scope() as s:
        request = s.get(db.ConsultRequest, request_id)
        assert (request.state, request.outcome, request.feedback_rating) == ("completed", "advice_given", 5)
    # The doctor was told of the request on WhatsApp too (a template: they never wrote to the number).
    assert "template:doctor_new_request" in texts_of(wa.sent("923331234567"))
