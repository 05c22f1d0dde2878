"""Screenshots of the main pages for the README, taken in headless Chromium from a running
service (``scripts/run``), logged in as the demo county clerk.

    .venv/bin/python scripts/screenshots.py [--base http://127.0.0.1:8000] [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "screenshots"))
    parser.add_argument("--user", default="clerk")
    parser.add_argument("--password", default="Demo-2026-sw")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{args.base}/login?next=/practitioners")
        page.fill("input[name=username]", args.user)
        page.fill("input[name=password]", args.password)
        page.click("button[type=submit]")
        page.wait_for_url("**/practitioners")
        page.fill("#q-name", "王")
        page.wait_for_selector("#result-count")
        page.screenshot(path=out / "search.png")
        # A verified, registered practitioner in post: a page with something to show.
        page.goto(f"{args.base}/practitioners?level=intermediate&verification_status=verified&in_post=true")
        page.click("table.results a >> nth=0")
        page.wait_for_selector("#decisions")
        page.screenshot(path=out / "practitioner.png", full_page=True)
        page.goto(f"{args.base}/dashboard")
        page.wait_for_selector("#chart-levels svg")  # drawn by ECharts
        page.screenshot(path=out / "dashboard.png", full_page=True)
        page.goto(f"{args.base}/work")
        page.screenshot(path=out / "inbox.png")
        page.goto(f"{args.base}/ce-queue")
        page.screenshot(path=out / "ce-queue.png")
        # The payroll diff: last month's run of the clerk's county (made by the payroll clerk).
        pay = browser.new_page(viewport={"width": 1280, "height": 860})
        pay.goto(f"{args.base}/login?next=/payroll")
        pay.fill("input[name=username]", "payroll")
        pay.fill("input[name=password]", args.password)
        pay.click("button[type=submit]")
        pay.wait_for_url("**/payroll")
        if pay.locator("#runs a").count() == 0:
            pay.click("#new-run button[type=submit]")
            pay.wait_for_selector("#run-status")
        else:
            pay.click("#runs a >> nth=0")
        pay.wait_for_selector("#diff-added")
        pay.screenshot(path=out / "payroll-diff.png", full_page=False)
        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.goto(f"{args.base}/verify")
        phone.screenshot(path=out / "verify-phone.png")
        # The holder's own record and the CE form on a phone.
        phone.goto(f"{args.base}/login?next=/me")
        phone.fill("input[name=username]", "worker")
        phone.fill("input[name=password]", args.password)
        phone.click("button[type=submit]")
        phone.wait_for_selector("#decisions")
        phone.screenshot(path=out / "me-phone.png", full_page=True)
        phone.click("#ce-new")
        phone.wait_for_selector("#ce-form")
        phone.screenshot(path=out / "ce-form-phone.png", full_page=True)
        # The administrator's national page.
        admin = browser.new_page(viewport={"width": 1280, "height": 860})
        admin.goto(f"{args.base}/login?next=/dashboard")
        admin.fill("input[name=username]", "admin")
        admin.fill("input[name=password]", args.password)
        admin.click("button[type=submit]")
        admin.wait_for_selector("#chart-provinces svg")
        admin.screenshot(path=out / "dashboard-country.png", full_page=True)
        # The region chooser: chosen level by level on a desktop, typed in pinyin on a phone.
        admin.goto(f"{args.base}/practitioners")
        admin.select_option("#q-region-level-0", label="湖北省")
        admin.select_option("#q-region-level-1", label="武汉市")
        admin.select_option("#q-region-level-2", label="江岸区")
        admin.screenshot(path=out / "region-picker.png")
        small = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
        small.context.add_cookies(admin.context.cookies())
        small.goto(f"{args.base}/practitioners")
        small.locator("#q-region").press_sequentially("jiang")
        small.wait_for_selector("#q-region-list [role=option]")
        small.keyboard.press("ArrowDown")
        small.screenshot(path=out / "region-picker-phone.png")
        browser.close()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
