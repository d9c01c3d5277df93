"""The page's logic through Starlette's TestClient (no browser): accounts, sessions, CSRF, roles, lockout,
audit, the exam document and its pictures, the TLS rule."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from PIL import Image
from starlette.testclient import TestClient
from web_helpers import LOCKOUT, PASSWORD, add_user

from mammoedge.runtime.config import Config, ServiceConfig, UpdateConfig, WebConfig, load_config
from mammoedge.runtime.errors import ConfigError
from mammoedge.runtime.web import AccountStore, Role, create_app, serve, tls_files, web_dir
from mammoedge.runtime.web.accounts import check_password
from mammoedge.runtime.web.app import COOKIE
from mammoedge.runtime.web.errors import AccountError, LockedError, LoginError, WebConfigError

ORIGIN = "https://testserver"


@pytest.fixture
def config(tmp_path) -> Config:
    return Config(service=ServiceConfig(state_dir=tmp_path / "state"), web=WebConfig(lockout_failures=LOCKOUT))


def client_for(config: Config) -> TestClient:
    return TestClient(create_app(config, tls=True), base_url=ORIGIN)


def store_of(config: Config) -> AccountStore:
    """The page's store with argon2-cffi's cheapest profile (the page's own hasher verifies any argon2 hash)."""
    return AccountStore(web_dir(config) / "accounts.sqlite", lockout_failures=config.web.lockout_failures,
                        hasher=PasswordHasher.from_parameters(CHEAPEST))


def login(client: TestClient, name: str, password: str = PASSWORD, **headers: str):
    return client.post("/api/login", json={"name": name, "password": password}, headers=headers)


def audit(config: Config) -> list[dict]:
    return [json.loads(line) for line in (web_dir(config) / "audit.jsonl").read_text().splitlines()]


def test_login_sets_a_strict_secure_cookie_and_gives_the_csrf_token(config):
    store = store_of(config)
    store.add("tech", PASSWORD, Role.TECHNOLOGIST)
    with client_for(config) as client:
        response = login(client, "tech")
        assert response.status_code == 200
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "Secure" in cookie
        assert "SameSite=strict" in cookie and "Path=/" in cookie and "Domain" not in cookie
        session = client.get("/api/session").json()
        assert session["account"] == "tech" and session["role"] == "technologist"
        assert session["csrf"] == response.json()["csrf"]
        assert client.get("/api/worklist").json()["exams"] == []
        headers = client.get("/api/session").headers
        assert "default-src 'self'" in headers["content-security-policy"] and headers["cache-control"] == "no-store"
        assert headers["strict-transport-security"].startswith("max-age=")
    stored = store._db.execute("SELECT hash FROM accounts").fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert store._db.execute("SELECT COUNT(*) FROM sessions WHERE token_sha256 = ?",
                             (response.cookies[COOKIE],)).fetchone()[0] == 0  # only the token's hash is kept


def test_wrong_password_and_unknown_account_get_the_same_answer(config):
    store_of(config).add("tech", PASSWORD, Role.TECHNOLOGIST)
    with client_for(config) as client:
        wrong, unknown = login(client, "tech", "not-the-password"), login(client, "nobody", "not-the-password")
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json() == {"error": "account name or password is wrong"}
        assert COOKIE not in wrong.cookies
        assert client.get("/api/worklist").status_code == 401
    lines = audit(config)
    assert [r["action"] for r in lines] == ["login-failed", "login-failed"]
    assert all("not-the-password" not in json.dumps(r) for r in lines)


def test_lockout_after_repeated_failures_and_unlock(config):
    store = store_of(config)
    store.add("tech", PASSWORD, Role.TECHNOLOGIST)
    with client_for(config) as client:
        codes = [login(client, "tech", "wrong-password").status_code for _ in range(LOCKOUT)]
        assert codes == [401] * (LOCKOUT - 1) + [423]
        locked = login(client, "tech")
        assert locked.status_code == 423 and "locked" in locked.json()["error"]
        assert store.get("tech").locked
        store.set_locked("tech", False)
        assert login(client, "tech").status_code == 200
    assert [r["action"] for r in audit(config)][-2:] == ["locked", "login"]


def test_a_success_resets_the_failure_count(config):
    store = store_of(config)
    store.add("tech", PASSWORD, Role.TECHNOLOGIST)
    for _ in range(LOCKOUT - 1):
        with pytest.raises(LoginError):
            store.login("tech", "wrong-password")
    store.login("tech", PASSWORD)
    for _ in range(LOCKOUT - 1):
        with pytest.raises(LoginError) as refused:
            store.login("tech", "wrong-password")
        assert not isinstance(refused.value, LockedError)


def test_csrf_token_is_required_for_state_changing_requests(config):
    store_of(config).add("tech", PASSWORD, Role.TECHNOLOGIST)
    with client_for(config) as client:
        csrf = login(client, "tech").json()["csrf"]
        missing = client.post("/api/logout")
        assert missing.status_code == 403 and "CSRF" in missing.json()["error"]
        assert client.post("/api/logout", headers={"X-CSRF-Token": "forged"}).status_code == 403
        cross = client.post("/api/logout", headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"})
        assert cross.status_code == 403 and "cross-origin" in cross.json()["error"]
        assert client.get("/api/session").status_code == 200  # still logged in after the refusals
        assert client.post("/api/logout", headers={"X-CSRF-Token": csrf, "Origin": ORIGIN}).status_code == 200
        assert client.get("/api/session").status_code == 401


def test_login_from_another_origin_is_refused(config):
    store_of(config).add("tech", PASSWORD, Role.TECHNOLOGIST)
    with client_for(config) as client:
        response = login(client, "tech", Origin="https://evil.example")
        assert response.status_code == 403 and COOKIE not in response.cookies


def test_roles(config):
    store = store_of(config)
    store.add("tech", PASSWORD, Role.TECHNOLOGIST)
    store.add("boss", PASSWORD, Role.ADMIN)
    store.add("other", PASSWORD, Role.RADIOLOGIST)
    store.set_locked("other", True)
    with client_for(config) as client:
        csrf = login(client, "tech").json()["csrf"]
        refused = client.post("/api/accounts/other/unlock", headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403 and "admin" in refused.json()["error"]
    with client_for(config) as client:
        csrf = login(client, "boss").json()["csrf"]
        assert client.post("/api/accounts/other/unlock").status_code == 403  # admin too needs the token
        assert client.post("/api/accounts/other/unlock", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert not store.get("other").locked
    assert Role.ADMIN.allows(Role.RADIOLOGIST) and not Role.TECHNOLOGIST.allows(Role.RADIOLOGIST)


def test_without_a_session_pages_redirect_and_the_api_refuses(config):
    with client_for(config) as client:
        for path in ("/", "/box", "/exam/" + "a" * 32):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 303 and response.headers["location"] == "/login", path
        for path in ("/api/worklist", "/api/events", "/api/box", "/api/exam/" + "a" * 32,
                     "/api/exam/" + "a" * 32 + "/view/RCC.png"):
            assert client.get(path).status_code == 401, path
        assert client.get("/login").status_code == 200


def test_sessions_expire_and_end_when_the_account_is_locked(config):
    store = store_of(config)
    store.add("tech", PASSWORD, Role.TECHNOLOGIST)
    token, session = store.login("tech", PASSWORD, now=1000.0)
    assert store.session(token, now=1001.0) is not None
    assert store.session(token, now=session.expires_at + 1) is None
    token, _ = store.login("tech", PASSWORD)
    store.set_locked("tech", True)
    assert store.session(token) is None


def test_account_rules(config):
    store = store_of(config)
    with pytest.raises(AccountError, match="at least 10 characters"):
        check_password("short")
    with pytest.raises(AccountError, match="account name 'Bad Name'"):
        store.add("Bad Name", PASSWORD, Role.TECHNOLOGIST)
    store.add("tech", PASSWORD, Role.TECHNOLOGIST)
    with pytest.raises(AccountError, match="exists already"):
        store.add("tech", PASSWORD, Role.ADMIN)


def test_user_cli(tmp_path, monkeypatch, capsys):
    from mammoedge.runtime.cli import main

    conf = tmp_path / "m.toml"
    conf.write_text(f'[service]\nstate_dir = "{tmp_path / "state"}"\n')

    def user(*args: str, password: str = PASSWORD) -> tuple[int, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
        code = main(["--config", str(conf), "user", *args])
        out = capsys.readouterr()
        return code, out.out + out.err

    assert user("add", "rad", "--role", "radiologist", "--password-stdin")[0] == 0
    assert user("add", "rad", "--password-stdin") == (1, "mammoedge user: error: account 'rad' exists already "
                                                        "(rule: names are unique)\n")
    assert "at least 10" in user("add", "x2", "--password-stdin", password="short")[1]
    assert user("lock", "rad")[0] == 0
    assert "rad\tradiologist\tlocked" in user("list")[1]
    assert user("passwd", "rad", "--password-stdin", password="another-password")[0] == 0
    assert "rad\tradiologist\tactive" in user("list")[1]
    AccountStore(tmp_path / "state" / "web" / "accounts.sqlite").login("rad", "another-password")


def test_exam_document_pictures_and_audit(box_state):
    config = box_state.config
    add_user(box_state, "auditor")
    with client_for(config) as client:
        assert login(client, "auditor").status_code == 200
        key = box_state.study_key
        exam = client.get(f"/api/exam/{key}").json()
        assert exam["patient"]["name"] == box_state.identity["name_spaced"]
        assert exam["patient"]["id"] == box_state.identity["id"]
        assert {v["name"] for v in exam["views"]} == {"RCC", "LCC", "RMLO", "LMLO"}
        for view in exam["views"]:
            png = client.get(f"/api/exam/{key}/view/{view['name']}.png")
            assert png.status_code == 200 and png.headers["content-type"] == "image/png"
            image = Image.open(io.BytesIO(png.content))
            assert image.size == (view["geometry"]["width"], view["geometry"]["height"])
            assert max(image.size) <= config.web.display_max_px
        saliency = Image.open(io.BytesIO(client.get(f"/api/exam/{key}/layer/RCC/saliency.png").content))
        assert saliency.mode == "RGBA" and saliency.getextrema()[3][1] > 0  # some heat is drawn
        asym = client.get(f"/api/exam/{key}/layer/LMLO/asymmetry.png")
        assert asym.status_code == 200 and Image.open(io.BytesIO(asym.content)).mode == "RGBA"
        assert client.get(f"/api/exam/{key}/layer/LMLO/other.png").status_code == 404
        assert client.get(f"/api/exam/{key}/view/XCC.png").status_code == 404
        bad = client.get("/api/exam/1.2.840.10008/view/RCC.png")
        assert bad.status_code == 404
        unknown = client.get("/api/exam/" + "0" * 32)
        assert unknown.status_code == 404 and unknown.json()["error"] == "no exam with this key on the box"
    opened = [r for r in audit(config) if r["action"] == "open-exam" and r["account"] == "auditor"]
    assert opened and opened[-1]["study_key"] == key and set(opened[-1]) == {"time", "account", "action", "study_key"}
    text = (web_dir(config) / "audit.jsonl").read_text()
    for value in box_state.identity.values():
        assert not value or value not in text


def test_plain_http_only_on_loopback_and_the_box_certificate_by_default(tmp_path):
    base = Config(service=ServiceConfig(state_dir=tmp_path))
    public = dataclasses.replace(base, web=WebConfig(bind_address="0.0.0.0"))
    with pytest.raises(WebConfigError, match="needs TLS"):
        serve(public)
    assert tls_files(base) is None
    identity = tmp_path / "identity"
    identity.mkdir()
    (identity / "device.crt").write_text("cert")
    (identity / "device-key.pem").write_text("key")
    assert tls_files(base) == (identity / "device.crt", identity / "device-key.pem")
    with pytest.raises(ConfigError, match="web.bind_address"):
        load_config(env={"MAMMOEDGE__WEB__BIND_ADDRESS": "not-an-address"})
    with pytest.raises(ConfigError, match="web.lockout_failures"):
        load_config(env={"MAMMOEDGE__WEB__LOCKOUT_FAILURES": "0"})


def test_biopsy_document_and_retarget_by_role(box_state, biopsy_key):
    config = box_state.config
    add_user(box_state, "radio", "radiologist")
    add_user(box_state, "techb")
    envelope = json.loads((box_state.config.service.state_dir / "results" / f"{biopsy_key}.json").read_text())
    with client_for(config) as client:
        csrf = login(client, "techb").json()["csrf"]
        document = client.get(f"/api/biopsy/{biopsy_key}").json()
        assert document["biopsy"] == envelope["biopsy"] and document["kind"] == "biopsy"
        assert {v["role"] for v in document["views"]} == {"scout", "plus", "minus"}
        png = client.get(f"/api/biopsy/{biopsy_key}/view/plus.png")
        view = next(v for v in document["views"] if v["role"] == "plus")
        assert Image.open(io.BytesIO(png.content)).size == (view["width"], view["height"])
        assert client.get(f"/api/biopsy/{biopsy_key}/view/side.png").status_code == 404
        refused = client.post(f"/api/biopsy/{biopsy_key}/target", json={"x": 1, "y": 1}, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403 and "radiologist" in refused.json()["error"]
        assert client.get(f"/api/biopsy/{box_state.study_key}").status_code == 404  # a screening exam: no set
    with client_for(config) as client:
        csrf = login(client, "radio").json()["csrf"]
        assert client.post(f"/api/biopsy/{biopsy_key}/target", json={"x": 1}).status_code == 403  # no token
        bad = client.post(f"/api/biopsy/{biopsy_key}/target", json={"x": 1}, headers={"X-CSRF-Token": csrf})
        assert bad.status_code == 400
    actions = [(r["account"], r["action"], r["study_key"]) for r in audit(config)]
    assert ("techb", "open-biopsy", biopsy_key) in actions


def test_box_document_has_health_models_devices_and_update_state(tmp_path):
    (tmp_path / "update").mkdir()
    config = Config(service=ServiceConfig(state_dir=tmp_path / "state"), web=WebConfig(lockout_failures=LOCKOUT),
                    update=UpdateConfig(root=tmp_path / "update"))
    store_of(config).add("tech", PASSWORD, Role.TECHNOLOGIST)
    with client_for(config) as client:
        login(client, "tech")
        box = client.get("/api/box").json()
    assert box["health"]["queue_depth"] == 0 and box["health"]["exams_by_state"] == {}
    assert box["update"] == {"state": "idle", "last_outcome": "none", "last_rule": None, "version": None,
                             "target_version": None}
    assert "calc-detector" in box["models"] and "openvino:CPU" in box["devices"]
    assert box["web"] == {"tls": True, "accounts": 1}
