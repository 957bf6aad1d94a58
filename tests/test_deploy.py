"""Deployment: the nginx configuration rendered from catalog.yaml (checked by real nginx), its
Content-Security-Policy, and the Kubernetes manifests validated against their schemas."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from site_builder.deploy.devstack import find_nginx, free_port
from site_builder.deploy.nginx import (
    TEMPLATE,
    DeployConfigError,
    build_csp,
    load_cluster_settings,
    load_proxy_settings,
    render_nginx_config,
)
from tests.conftest import REPO

K8S = REPO / "deploy" / "kubernetes"
GI_SCHEMA = json.loads((K8S / "schemas" / "gafaelfawringress.schema.json").read_text())
K8S_VERSION = "1.30"  # GKE's stable channel at the time of writing
CATALOG = yaml.safe_load((REPO / "catalog.yaml").read_text())


def documents() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


def validate(doc: dict) -> None:
    """Raise if ``doc`` breaks its schema (Kubernetes' own, strict; or our GafaelfawrIngress one)."""
    if doc["kind"] == "GafaelfawrIngress":
        jsonschema.Draft202012Validator(GI_SCHEMA).validate(doc)
    elif doc["kind"] == "Kustomization":
        assert set(doc) <= {"apiVersion", "kind", "namespace", "resources"}
    else:
        import kubernetes_validate

        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize(("name", "doc"), documents(), ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_manifests_are_valid(name, doc):
    validate(doc)


def test_the_validators_catch_mistakes():
    import kubernetes_validate

    deployment = yaml.safe_load((K8S / "deployment.yaml").read_text())
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    ingress = next(d for _, d in documents() if d["kind"] == "GafaelfawrIngress")
    for change in ({"loginRedirect": "yes"}, {"scopes": {"all": ["a"], "any": ["b"]}}, {"authCacheDuration": "5 min"},
                   {"baseUrl": "http://data.lsst.cloud"}, {"loginRedlrect": True}):
        broken = json.loads(json.dumps(ingress))
        broken["config"].update(change)
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_ingresses_match_the_catalogue_settings():
    """Scopes, host, paths and login redirects agree with catalog.yaml and the proxy design."""
    auth = CATALOG["auth"]
    host = urlsplit(CATALOG["site_url"]).hostname
    remote_path = urlsplit(CATALOG["dvc_remote"]["url"]).path
    ingresses = {d["metadata"]["name"]: d for _, d in documents() if d["kind"] == "GafaelfawrIngress"}
    by_path = {}
    for doc in ingresses.values():
        config = doc["config"]
        assert config["baseUrl"] == "https://" + urlsplit(auth["url"]).hostname
        assert re.fullmatch(r"[0-9]+[sm]", config["authCacheDuration"])
        for rule in doc["template"]["spec"]["rules"]:
            assert rule["host"] == host
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"] == {"name": "pz-server", "port": {"number": 8080}}
                by_path[path["path"]] = config
    assert set(by_path) == {"/", "/api", remote_path, remote_path + "-upload"}
    assert by_path["/"]["loginRedirect"] is True
    for path in ("/api", remote_path, remote_path + "-upload"):
        assert by_path[path]["loginRedirect"] is False, path
    for path in ("/", "/api", remote_path):
        assert by_path[path]["scopes"] == {"all": [auth["read_scope"]]}
    assert by_path[remote_path + "-upload"]["scopes"] == {"all": [auth["read_scope"], auth["write_scope"]]}


def test_the_pod_is_only_reachable_from_the_ingress_and_runs_unprivileged():
    docs = {d["kind"]: d for _, d in documents()}
    policy = docs["NetworkPolicy"]["spec"]
    assert policy["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in pod["containers"]:
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
    nginx = next(c for c in pod["containers"] if c["name"] == "nginx")
    assert next(m for m in nginx["volumeMounts"] if m["name"] == "dvc-data")["readOnly"] is True


# -- nginx configuration ----------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    from site_builder.site.build import build_site

    return build_site(REPO, tmp_path_factory.mktemp("deploy") / "site").out


def nginx_test(conf: str, folder: Path) -> subprocess.CompletedProcess:
    (folder / "nginx.conf").write_text(conf)
    return subprocess.run([find_nginx(), "-t", "-p", str(folder), "-c", str(folder / "nginx.conf")],
                          capture_output=True, text=True, check=False)


def dev_settings(tmp_path: Path, site: Path, **changes):
    values = {"listen": f"127.0.0.1:{free_port()}", "site_dir": str(site), "remote_dir": str(tmp_path),
              "auth_upstream": "127.0.0.1:9", "run_dir": str(tmp_path), "upload_upstream": "127.0.0.1:10",
              "csp": build_csp(site), "login_url": "/login"}
    return load_proxy_settings(REPO, **{**values, **changes})


def test_dev_config_from_the_catalogue_passes_nginx_t(tmp_path, site):
    conf = render_nginx_config(dev_settings(tmp_path, site), REPO / TEMPLATE)
    result = nginx_test(conf, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "auth_request /_auth/read;" in conf
    assert f"scope={CATALOG['auth']['write_scope']};" in conf
    assert "return 302 /login?rd=" in conf


def test_cluster_config_passes_nginx_t_and_has_no_auth_request(tmp_path, site):
    settings = load_cluster_settings(REPO, site, run_dir=str(tmp_path), site_dir=str(site))
    conf = render_nginx_config(settings, REPO / TEMPLATE)
    assert "auth_request " not in conf and "pz_gafaelfawr" not in conf
    assert "location ~ \"^/dvc-upload/" in conf
    result = nginx_test(conf, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("change", "field"), [
    ({"read_scope": 'read:image"; allow all; #'}, "auth.read_scope"),
    ({"write_scope": "write pz"}, "auth.write_scope"),
    ({"login_url": "https://x.org/login?a=b;c"}, "auth.login_url"),
    ({"listen": "127.0.0.1:80 default_server"}, "listen"),
    ({"site_dir": "/srv/site; root /"}, "site_dir"),
    ({"auth_cache": "5 minutes"}, "auth_cache"),
    ({"csp": "default-src 'self'\"; add_header X 1"}, "csp"),
    ({"mode": "prod"}, "mode"),
])
def test_unsafe_settings_are_refused(tmp_path, site, change, field):
    with pytest.raises(DeployConfigError, match=re.escape(f"proxy setting {field}")):
        dev_settings(tmp_path, site, **change)


def test_a_broken_catalog_is_refused(tmp_path):
    root = tmp_path / "cat"
    root.mkdir()
    data = dict(CATALOG)
    data["auth"] = {"url": "https://data.lsst.cloud/auth", "read_scope": "read:image"}  # no write scope
    (root / "catalog.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(DeployConfigError, match="write_scope") as info:
        load_proxy_settings(root, listen="1", site_dir="/s", remote_dir="/r", auth_upstream="h:1",
                            run_dir="/t", csp="x")
    assert "pz validate" in str(info.value)


def test_csp_allows_exactly_the_inline_code_of_the_site(site):
    csp = build_csp(site)
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    inline = set()
    for page in site.rglob("*.html"):
        for attrs, code in re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", page.read_text(), re.S):
            if "application/json" not in attrs:
                inline.add(code)
    assert inline, "the theme writes inline scripts: the test would prove nothing"
    import base64
    wanted = {"'sha256-" + base64.b64encode(hashlib.sha256(c.encode()).digest()).decode() + "'" for c in inline}
    assert set(re.findall(r"'sha256-[^']+'", directives["script-src"])) == wanted
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "'none'" and directives["default-src"] == "'none'"
    assert "googleapis" not in csp and "gstatic" not in csp  # mkdocs.yml: no third-party web fonts


def test_csp_needs_a_built_site(tmp_path):
    with pytest.raises(DeployConfigError, match="build the site first"):
        build_csp(tmp_path)


def test_pz_nginx_config_writes_the_cluster_config(tmp_path, site):
    from click.testing import CliRunner

    from site_builder.cli.main import cli

    out = tmp_path / "nginx.conf"
    result = CliRunner().invoke(cli, ["--repo", str(REPO), "nginx-config", "--site", str(site), "--out", str(out),
                                      "--set", f"run_dir={tmp_path}"])
    assert result.exit_code == 0, result.output
    assert "mode: cluster" in out.read_text()
    bad = CliRunner().invoke(cli, ["--repo", str(REPO), "nginx-config", "--site", str(site), "--set", "listen=80;"])
    assert bad.exit_code == 1 and "proxy setting listen" in bad.output


@pytest.mark.slow
def test_cluster_nginx_serves_reads_and_uploads_behind_the_ingress(tmp_path, site):
    """The in-cluster config for real: no auth of its own, reads at /dvc, writes only at /dvc-upload."""
    remote = tmp_path / "remote"
    shutil.copytree(REPO / "dvc-remote", remote)
    port, upload_port = free_port(), free_port()
    settings = load_cluster_settings(REPO, site, listen=f"127.0.0.1:{port}", site_dir=str(site),
                                     remote_dir=str(remote), run_dir=str(tmp_path), workers=1,
                                     upload_upstream=f"127.0.0.1:{upload_port}",
                                     access_log=str(tmp_path / "access.log"), error_log=str(tmp_path / "error.log"),
                                     user="root" if os.geteuid() == 0 else None)  # workers must read tmp_path
    (tmp_path / "nginx.conf").write_text(render_nginx_config(settings, REPO / TEMPLATE))
    uploader = subprocess.Popen([sys.executable, str(REPO / "deploy/dev/dvc_upload.py"), "--listen",
                                 f"127.0.0.1:{upload_port}", "--root", str(remote)])
    for _ in range(400):  # the upload service listens before nginx may send it anything
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", upload_port)) == 0:
                break
        time.sleep(0.025)
    nginx = subprocess.Popen([find_nginx(), "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                              "-g", "daemon off;"])
    try:
        def ask(method, path, body=None, headers=None):
            for _ in range(200):
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request(method, path, body=body, headers=headers or {})
                    answer = conn.getresponse()
                    return answer.status, answer.read()
                except ConnectionRefusedError:
                    time.sleep(0.025)
            raise AssertionError("nginx did not start")

        obj = next(p for p in (remote / "files/md5").rglob("*") if p.is_file())
        path = "/dvc/" + obj.relative_to(remote).as_posix()
        assert ask("GET", path) == (200, obj.read_bytes())
        assert ask("GET", "/api/v1/index.json")[0] == 200
        data = b"cluster upload"
        md5 = hashlib.md5(data).hexdigest()
        target = f"files/md5/{md5[:2]}/{md5[2:]}"
        assert ask("POST", "/dvc/" + target, data)[0] == 405  # never on the read path
        assert ask("PUT", "/dvc-upload/" + target, data, {"X-Auth-Request-User": "ann"})[0] == 201
        assert (remote / target).read_bytes() == data
        assert ask("GET", "/.git/config")[0] == 404
        time.sleep(0.2)
        assert '"ann"' in (tmp_path / "access.log").read_text()
    finally:
        nginx.terminate()
        uploader.terminate()
        nginx.wait(timeout=10)
        uploader.wait(timeout=10)
