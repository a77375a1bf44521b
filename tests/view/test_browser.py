"""The viewer page in a real headless browser (Debian's chromium, driven by Playwright)."""
import shutil
import threading

import pytest

from millivid_env.view.server import serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Without the networking switches chromium keeps trying to reach its services from a machine that
# has no network; the page itself needs nothing but the local server.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (`.ci/run` installs it when run as root)")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def frame_of(page, caption):
    return page.locator(f"figure:has(figcaption:text-is('{caption}')) canvas")


def test_scrub_an_episode_and_its_rollout(browser, viewer, tmp_path):
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(viewer.url + "#episode=0&t=6")
    truth, rollout = frame_of(page, "truth"), frame_of(page, "sim-x (millivid)")
    page.wait_for_selector("figure canvas[data-frame='6']")
    assert page.locator("#episodes tbody tr").count() == 3
    assert rollout.get_attribute("data-frame") == "", "the rollout starts after the context: nothing to show at frame 6"
    before = {"pixels": truth.evaluate("c => c.toDataURL()"), "x": page.get_attribute("#map", "data-marker-x"),
              "z": page.get_attribute("#map", "data-marker-z")}
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("document.querySelector('figure canvas').dataset.frame === '10'")
    page.wait_for_function("[...document.querySelectorAll('figure canvas')].every(c => c.dataset.frame === '10')")
    assert page.inner_text("#frame-index").startswith("10 / 40")
    assert truth.evaluate("c => c.toDataURL()") != before["pixels"]
    after = (page.get_attribute("#map", "data-marker-x"), page.get_attribute("#map", "data-marker-z"))
    assert after != (before["x"], before["z"]), "the map's camera marker moved with the frame"
    assert page.locator("#curves canvas").count() == 2
    page.wait_for_selector("#step[data-frame='10']")  # the step's table arrives by its own request
    assert "psnr 22.000" in page.inner_text("#step")
    page.keyboard.press("Shift+ArrowRight")
    page.wait_for_function("document.querySelector('figure canvas').dataset.frame === '20'")
    page.keyboard.press("End")
    page.wait_for_selector("#step[data-frame='40']")
    assert "none (last frame)" in page.inner_text("#step")
    page.locator("#episodes tbody tr").nth(2).click()
    page.wait_for_function("location.hash.startsWith('#episode=2')")
    assert page.locator("figure").count() == 3, "episode 2 has no rollout: truth, depth and block ids"
    page.screenshot(path=str(tmp_path / "viewer.png"), full_page=True)
    assert (tmp_path / "viewer.png").stat().st_size > 10_000
    assert errors == []
    page.close()


def test_a_broken_dataset_shows_its_message_on_the_page(browser, tmp_path):
    server = serve(tmp_path / "missing", [], port=0)
    server.log = lambda line: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        page.goto(server.url)
        page.wait_for_selector("#problems div")
        assert "no such dataset folder" in page.inner_text("#problems")
        page.close()
    finally:
        server.shutdown()
        server.server_close()
