"""The WhatsApp sandbox chat page in headless Chromium (Debian's chromium and chromedriver),
phone-sized, through a conversation: greeting, the language list, a symptom-check answer by
button, and the ticks."""
from __future__ import annotations

import itertools
import shutil
import tempfile

import pytest

from telehealth.i18n import render
from tests.conftest import require_service

pytestmark = pytest.mark.e2e
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
_ids = itertools.count()


@pytest.fixture
def browser():
    require_service("Chromium and ChromeDriver (Debian packages chromium, chromium-driver)",
                    bool(shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)))
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sandbox-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=390,844"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(390, 844)  # a phone
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def bot_texts(driver):
    return [el.text for el in driver.find_elements("css selector", ".msg.bot")]


def shown(key: str, locale: str) -> str:
    """A response's first line as the page shows it (*bold* marks become bold text)."""
    return render(key, locale).splitlines()[0].replace("*", "")


def test_a_conversation_on_the_chat_page(bot, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(bot.whatsapp.standin + "/")
    phone = browser.find_element(By.ID, "phone")
    phone.clear()
    phone.send_keys(f"92333{next(_ids):07d}")
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", phone)

    browser.find_element(By.ID, "text").send_keys("assalam o alaikum")
    browser.find_element(By.ID, "send").click()
    # The welcome (in the language guessed from the greeting) names 1122, then the language list.
    wait.until(lambda d: len(bot_texts(d)) >= 2 and "1122" in bot_texts(d)[0])

    # The language list: open it and tap Urdu (the row's id goes back, not its title).
    browser.find_element(By.CSS_SELECTOR, ".msg.bot .listopen").click()
    browser.find_element(By.XPATH, "//div[contains(@class,'list')]/button[text()='اردو']").click()
    changed = shown("utter_language_changed", "ur")
    wait.until(lambda d: any(changed in t for t in bot_texts(d)))

    # Menu option 2 by typing, then the first question's "No" button.
    browser.find_element(By.ID, "text").send_keys("2")
    browser.find_element(By.ID, "send").click()
    question = shown("utter_ask_warning_signs", "ur")
    wait.until(lambda d: any(question in t for t in bot_texts(d)))
    buttons = browser.find_elements(By.XPATH, "//div[contains(@class,'msg bot')][last()]//div[@class='choices']/button")
    assert [b.text for b in buttons] == ["ہاں", "نہیں"]
    buttons[1].click()
    for_whom = shown("utter_ask_for_whom", "ur")
    wait.until(lambda d: any(for_whom in t for t in bot_texts(d)))

    # Ticks: the user's messages were read by the bot; the bot's messages were read on the page.
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.user .ticks.read"))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.bot .ticks.read"))
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, "no sideways scrolling on a phone"
