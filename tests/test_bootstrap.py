"""The shared cloud-init + kubeadm bootstrap: rendered output, scripts, PKI and the admin kubeconfig."""

from __future__ import annotations

import base64
import json
import re
import shutil
import ssl
import stat
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID
from kubernetes import client

from providers.base import ConfigError
from providers.bootstrap import (
    BootstrapParams,
    ClusterPKI,
    admin_kubeconfig,
    new_bootstrap_token,
    render_control_plane,
    render_worker,
    write_kubeconfig,
)
from providers.readiness import api_client
from tests.standins.kube import version_info
from tests.standins.tls import issue_server_cert

TOKEN = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")


@pytest.fixture(scope="module")
def pki() -> ClusterPKI:
    return ClusterPKI.generate("c1")


def _params(pki: ClusterPKI, version: str = "1.31.2") -> BootstrapParams:
    return BootstrapParams("c1", pki, version, api_sans=("203.0.113.7",), control_plane_address="10.0.0.4")


def _parse(user_data: str) -> dict:
    assert user_data.startswith("#cloud-config\n")
    doc = yaml.safe_load(user_data)
    assert isinstance(doc, dict)
    return doc


def _files(doc: dict) -> dict[str, dict]:
    return {f["path"]: f for f in doc["write_files"]}


def _scripts(doc: dict) -> dict[str, str]:
    return {p: f["content"] for p, f in _files(doc).items() if p.endswith(".sh")}


@pytest.mark.parametrize("role", ["control-plane", "worker"])
def test_rendered_user_data_is_cloud_config_whose_scripts_parse(pki: ClusterPKI, role: str, tmp_path: Path):
    render = render_control_plane if role == "control-plane" else render_worker
    doc = _parse(render(_params(pki)))
    scripts = _scripts(doc)
    entry = f"/usr/local/lib/fedtest/{role}.sh"
    assert doc["runcmd"] == [["bash", entry]]
    assert set(scripts) == {entry, "/usr/local/lib/fedtest/install-kubeadm.sh"}
    for path, text in scripts.items():
        target = tmp_path / Path(path).name
        target.write_text(text, encoding="utf-8")
        syntax = subprocess.run(["bash", "-n", str(target)], capture_output=True, text=True)
        assert syntax.returncode == 0, syntax.stderr
        assert _files(doc)[path]["permissions"] == "0755"


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck is not installed (apt-get install -y shellcheck)")
@pytest.mark.parametrize("role", ["control-plane", "worker"])
def test_rendered_scripts_pass_shellcheck(pki: ClusterPKI, role: str, tmp_path: Path):
    render = render_control_plane if role == "control-plane" else render_worker
    paths = []
    for path, text in _scripts(_parse(render(_params(pki)))).items():
        paths.append(tmp_path / Path(path).name)
        paths[-1].write_text(text, encoding="utf-8")
    result = subprocess.run(["shellcheck", "--severity=style", *map(str, paths)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_env_file_carries_the_version_safely_quoted(pki: ClusterPKI, tmp_path: Path):
    doc = _parse(render_control_plane(_params(pki, "v1.30.4")))
    env = tmp_path / "bootstrap.env"
    env.write_text(_files(doc)["/etc/fedtest/bootstrap.env"]["content"], encoding="utf-8")
    assert _files(doc)["/etc/fedtest/bootstrap.env"]["permissions"] == "0600"
    out = subprocess.run(["bash", "-c", f'. {env}; echo "$K8S_MINOR|$K8S_PATCH|$CNI_MANIFEST_URL"'],
                         capture_output=True, text=True, check=True).stdout.strip()
    minor, patch, cni = out.split("|")
    assert (minor, patch) == ("1.30", "1.30.4")
    assert cni.startswith("https://")


def test_control_plane_gets_the_ca_and_a_kubeadm_config_with_the_public_san(pki: ClusterPKI):
    files = _files(_parse(render_control_plane(_params(pki))))
    assert files["/etc/kubernetes/pki/ca.crt"]["content"].encode() == pki.ca_cert_pem
    assert files["/etc/kubernetes/pki/ca.key"]["content"].encode() == pki.ca_key_pem
    assert files["/etc/kubernetes/pki/ca.key"]["permissions"] == "0600"
    init, cluster = yaml.safe_load_all(files["/etc/fedtest/kubeadm.yaml"]["content"])
    assert init["kind"] == "InitConfiguration" and cluster["kind"] == "ClusterConfiguration"
    assert init["apiVersion"] == cluster["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert init["bootstrapTokens"][0]["token"] == pki.bootstrap_token
    assert "203.0.113.7" in cluster["apiServer"]["certSANs"]
    assert cluster["clusterName"] == "c1"


def test_worker_joins_with_token_and_ca_hash_but_never_gets_the_ca_key(pki: ClusterPKI):
    user_data = render_worker(_params(pki, "1.29"))
    assert "PRIVATE KEY" not in user_data
    files = _files(_parse(user_data))
    join = yaml.safe_load(files["/etc/fedtest/kubeadm.yaml"]["content"])
    assert join["apiVersion"] == "kubeadm.k8s.io/v1beta3"
    discovery = join["discovery"]["bootstrapToken"]
    assert discovery == {"apiServerEndpoint": "10.0.0.4:6443", "token": pki.bootstrap_token,
                         "caCertHashes": [pki.ca_cert_hash()]}


@pytest.mark.parametrize("bad", ["latest", "1", "1.31.2.1", ""])
def test_bad_version_is_one_line(pki: ClusterPKI, bad: str):
    with pytest.raises(ConfigError) as err:
        render_control_plane(_params(pki, bad))
    assert "\n" not in str(err.value) and "--k8s-version" in str(err.value)


def test_missing_addresses_are_one_line(pki: ClusterPKI):
    with pytest.raises(ConfigError, match="public address"):
        render_control_plane(BootstrapParams("c1", pki))
    with pytest.raises(ConfigError, match="private address"):
        render_worker(BootstrapParams("c1", pki))


def test_bootstrap_tokens_have_kubeadms_format_and_differ():
    tokens = {new_bootstrap_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(TOKEN.match(t) for t in tokens)
    assert TOKEN.match(ClusterPKI.generate("c2").bootstrap_token)


def test_ca_hash_matches_the_openssl_pipeline_kubeadm_documents(pki: ClusterPKI, tmp_path: Path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    (tmp_path / "ca.crt").write_bytes(pki.ca_cert_pem)
    pipeline = (f"openssl x509 -pubkey -in {tmp_path / 'ca.crt'}"
                " | openssl rsa -pubin -outform der 2>/dev/null"
                " | openssl dgst -sha256 -hex | sed 's/^.* //'")
    run = subprocess.run(["bash", "-c", pipeline], capture_output=True, text=True, check=True)
    expected = run.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", expected)
    assert pki.ca_cert_hash() == f"sha256:{expected}"


def test_pki_files_are_private(pki: ClusterPKI, tmp_path: Path):
    folder = pki.save(tmp_path / "work" / "c1" / "pki")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert ClusterPKI.load(folder) == pki
    config = admin_kubeconfig(pki, "https://x:6443", "c1")
    kubeconfig = write_kubeconfig(tmp_path / "work" / "c1.kubeconfig", config)
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600


def test_admin_kubeconfig_authenticates_over_mutual_tls(pki: ClusterPKI, tmp_path: Path):
    """The kubernetes client, given only the assembled kubeconfig, passes an mTLS server trusting the CA."""
    admin = x509.load_pem_x509_certificate(pki.admin_cert_pem)
    admin.verify_directly_issued_by(x509.load_pem_x509_certificate(pki.ca_cert_pem))
    subject = {a.oid: a.value for a in admin.subject}
    assert subject[NameOID.ORGANIZATION_NAME] == "system:masters"

    cert_path, key_path = issue_server_cert(pki.ca_cert_pem, pki.ca_key_pem, tmp_path, "apiserver")
    (tmp_path / "ca.crt").write_bytes(pki.ca_cert_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    context.load_verify_locations(tmp_path / "ca.crt")
    context.verify_mode = ssl.CERT_REQUIRED
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            peer = self.connection.getpeercert()
            seen.append(dict(x[0] for x in peer["subject"])["commonName"])
            body = json.dumps(version_info("v1.31.2")).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"https://127.0.0.1:{server.server_address[1]}"
        config = admin_kubeconfig(pki, endpoint, "c1")
        ca_data = config["clusters"][0]["cluster"]["certificate-authority-data"]
        assert base64.b64decode(ca_data) == pki.ca_cert_pem
        path = write_kubeconfig(tmp_path / "c1.kubeconfig", config)
        api = api_client(path, "c1")
        try:
            assert client.VersionApi(api).get_code(_request_timeout=10).git_version == "v1.31.2"
        finally:
            api.close()
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["fedtest-admin"]
