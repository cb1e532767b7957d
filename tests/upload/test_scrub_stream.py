"""Files are scrubbed as streams: a secret across a chunk boundary is still found, memory stays bounded."""

from __future__ import annotations

import io
import json

import pytest

from upload.scrub import CHUNK, MIN_WINDOW, REDACTED, Scrubbed, Scrubber, ScrubReport

VALUE = "s3cr3t-v&lue-ä-0123456789"
FORMS = {
    "known-value": VALUE,
    "known-value-json-escaped": json.dumps(VALUE).strip('"').replace("&", "\\u0026"),
    "yaml": "\n  token: eyJhbGciOiJSUzI1NiJ9.payload.sig\n",
    "json": '{"client_secret": "with \\" quote and \\\\ slash"}',
    "bearer": "Authorization: Bearer abcdefghij0123456789==",
    "assignment": "DB_PASSWORD='a b c d e'",
    "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAx\nMIIEpAIBAAKCAQEAy\n-----END RSA PRIVATE KEY-----\n",
}
HIDDEN = {
    "known-value": [VALUE],
    "known-value-json-escaped": ["s3cr3t-v"],
    "yaml": ["eyJhbGci"],
    "json": ["quote", "slash"],
    "bearer": ["abcdefghij"],
    "assignment": ["a b c"],
    "pem": ["MIIEpAIBAAKCAQEA"],
}


def _chunked(scrubber: Scrubber, data: bytes, size: int) -> tuple[bytes, int]:
    stream = scrubber.stream(window=0)
    out = [stream.feed(data[i : i + size]) for i in range(0, len(data), size)]
    return b"".join([*out, stream.close()]), stream.redacted


@pytest.mark.parametrize("form", list(FORMS))
def test_a_secret_straddling_a_chunk_boundary_is_redacted(form):
    """Every cut through the secret: the stream's output is the whole file's, and the secret is gone."""
    scrubber = Scrubber({"DB_PASSWORD": VALUE})
    secret = FORMS[form].encode()
    before = b"log line\n" * 1200  # more than the smallest window, so chunks are scrubbed as they come
    data = before + secret + b"\nafter\n" + b"x" * 12_000
    whole = scrubber.scrub(data)
    edge = len(before) + scrubber.stream(window=0).window  # where a stream fed up to here stops scrubbing
    for cut in range(edge - 2, edge + len(secret) + 2):
        first = scrubber.stream(window=0)
        out = first.feed(data[:cut]) + first.feed(data[cut:]) + first.close()
        assert (out, first.redacted) == whole, cut
    for hidden in HIDDEN[form]:
        assert hidden.encode() not in whole[0]
    assert whole[1] >= 1
    for size in (3, 1000, 4099):
        assert _chunked(scrubber, data, size) == whole


def test_a_10_mb_line_streams_through_in_bounded_memory():
    """A value that runs for 10 MB is redacted as it streams by: output comes out chunk by chunk and
    the bytes held back stay within the window, not the line."""
    scrubber = Scrubber({})
    chunk = b"A" * (64 << 10)
    stream = scrubber.stream()
    out = [stream.feed(b"start\n  token: ")]
    most_held = 0
    for _ in range(160):  # 10 MiB of one value
        out.append(stream.feed(chunk))
        most_held = max(most_held, stream.held)
    out += [stream.feed(b"\nnext line\n"), stream.close()]
    assert b"".join(out) == f"start\n  token: {REDACTED}\nnext line\n".encode() and stream.redacted == 1
    assert out[1] or out[2]  # the line's start came out before the line ended
    assert most_held <= 4 * MIN_WINDOW + len(chunk)


def test_a_file_is_read_in_chunks_not_whole(tmp_path):
    path = tmp_path / "big.log"
    path.write_bytes((b"line with " + VALUE.encode() + b"\n") * (3 * CHUNK // 30))
    reads: list[int] = []

    class Counting(io.FileIO):
        def read(self, size: int = -1) -> bytes:
            reads.append(size)
            return super().read(size)

    with Counting(path, "rb") as source:
        payload = Scrubber({"MY_TOKEN": VALUE}).payload(source, "big.log")  # type: ignore[arg-type]
    assert reads and max(reads) == CHUNK and -1 not in reads
    with payload:
        data = payload.read()
    assert VALUE.encode() not in data and payload.redacted == data.count(REDACTED.encode()) > 0


def test_only_the_scrubber_makes_a_payload(tmp_path):
    with pytest.raises(TypeError, match="comes only from the scrubber"):
        Scrubbed(object(), io.BytesIO(b"raw"), 3, 0, True, "x")
    report = ScrubReport()
    with Scrubber({}).payload(b"token: abcdefgh1234\n", "generated.txt", report) as payload:
        assert payload.read() == f"token: {REDACTED}\n".encode() and payload.size == len(payload.read())
        assert b"".join(payload.chunks(4)) == payload.read() and max(map(len, payload.chunks(4))) == 4
    assert report.files == 1 and report.redacted == 1


def test_chunks_in_scrubbed_chunks_out():
    scrubber = Scrubber({"DB_PASSWORD": VALUE})
    data = (b"x" * 5000 + VALUE.encode() + b"\n  token: abcdefgh1234\n") * 40
    pieces = (data[i : i + 777] for i in range(0, len(data), 777))
    assert b"".join(scrubber.scrub_chunks(pieces, "log")) == scrubber.scrub(data)[0]


def test_a_cut_inside_backslashes_reads_escapes_as_the_whole_file_does():
    """`\\\\u0041` is a backslash and `u0041`, not `A`, whichever side of a chunk edge its backslashes fall."""
    scrubber = Scrubber({"MY_TOKEN": "Abcdef-123"})
    data = b"log line\n" * 1200 + b'"x \\\\u0041bcdef-123 and \\u0041bcdef-123"' + b"z" * 12_000
    whole = scrubber.scrub(data)
    assert whole[1] == 1 and b"x \\\\u0041bcdef-123" in whole[0]
    start = data.index(b'"x') + scrubber.stream(window=0).window  # the stream holds back a window of bytes
    for cut in range(start, start + 12):
        stream = scrubber.stream(window=0)
        assert (stream.feed(data[:cut]) + stream.feed(data[cut:]) + stream.close(), stream.redacted) == whole, cut
