"""The send queue and sender against a real Orthanc: delivered once, across outages, kills and restarts."""

from __future__ import annotations

import logging
import threading
import time
from io import BytesIO

import pydicom
import pytest
from mammoedge.runtime.config import ConfigError, DestinationConfig, ForwardConfig, load_config
from mammoedge.runtime.dicom_results import ResultKind, write_dicom_results
from mammoedge.runtime.forward import DeliveryState, Outcome, Sender, SendQueue, backoff_s, enqueue_results
from pacs_helpers import Orthanc, make_tls


def destination(orthanc, **overrides) -> DestinationConfig:
    values = dict(name="pacs", ae_title="ORTHANC", host="127.0.0.1", port=orthanc.dicom_port)
    values.update(overrides)
    return DestinationConfig(**values)


def forward(orthanc, **overrides) -> ForwardConfig:
    dest = overrides.pop("dest", None) or destination(orthanc)
    values = dict(destinations=(dest,), calling_ae_title="MAMMOEDGE", retry_initial_s=0.2, retry_max_s=1.0,
                  timeout_s=5.0, poll_s=0.05)
    values.update(overrides)
    return ForwardConfig(**values)


def written(exam, directory):
    return [(item.kind, path) for item, path in write_dicom_results(exam.result, exam.sources, exam.images, directory)]


def delivered_total(tallies) -> int:
    return sum(t[Outcome.DELIVERED] for t in tallies)


def test_delivered_once_and_read_back_from_orthanc(exam, orthanc, tmp_path):
    orthanc.start()
    objects = written(exam, tmp_path / "out")
    config = forward(orthanc)
    queue = SendQueue(tmp_path / "forward.sqlite")
    assert enqueue_results(queue, config, exam.result.study_key, objects) == len(objects)
    assert enqueue_results(queue, config, exam.result.study_key, objects) == 0  # idempotent
    sender = Sender(config, queue)
    tally = sender.send_due(config.destinations[0])
    assert tally[Outcome.DELIVERED] == len(objects)
    assert queue.counts() == {"pacs": {"delivered": len(objects)}}
    assert sender.send_due(config.destinations[0])[Outcome.DELIVERED] == 0  # nothing is sent twice
    stored = orthanc.by_sop_uid()
    assert set(stored) == {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for _, p in objects}
    sr = next(ds for ds in stored.values() if ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.50")
    assert sr.PatientID == exam.sources[0].PatientID and sr.StudyInstanceUID == exam.sources[0].StudyInstanceUID
    summary = next(i for i in sr.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "111017")
    findings = []

    def collect(item):
        for child in item.get("ContentSequence", []):
            if child.ConceptNameCodeSequence[0].CodeValue == "111059":
                findings.append(child)
            collect(child)
    collect(summary)
    assert len(findings) == sum(len(v.clusters) for v in exam.result.views)
    screening = {k.value for k in ResultKind if k is not ResultKind.BIOPSY_SR}  # no stereo set, no biopsy target
    assert {s.kind for s in queue.of_study(exam.result.study_key)} == screening


def test_objects_queued_one_by_one_share_one_association(exam, orthanc, tmp_path):
    """As the service queues an exam's objects while it builds them (SR first, SCs later), the sender keeps
    its association open for them: one association for all, each stored once."""
    from mammoedge.runtime.forward.queue import DUE

    orthanc.start()
    objects = written(exam, tmp_path / "out")
    config = forward(orthanc)
    queue = SendQueue(tmp_path / "forward.sqlite")
    sender = Sender(config, queue, linger_s=2.0, wake=DUE)
    stop = threading.Event()
    thread = threading.Thread(target=sender.run, args=(stop, DUE), daemon=True)
    thread.start()
    try:
        for kind, path in objects:  # one at a time, the way forward_results queues them
            enqueue_results(queue, config, exam.result.study_key, [(kind, path)])
            time.sleep(0.15)
        deadline = time.monotonic() + 20
        while queue.counts()["pacs"].get("delivered", 0) < len(objects) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        DUE.set()
        thread.join(10)
    assert queue.counts() == {"pacs": {"delivered": len(objects)}}
    assert sender.associations == 1
    assert orthanc.new_instance_events() == len(objects) == len(orthanc.instances())


def test_orthanc_down_queued_then_delivered_once_it_is_back(exam, orthanc, tmp_path):
    objects = written(exam, tmp_path / "out")
    config = forward(orthanc)
    queue = SendQueue(tmp_path / "forward.sqlite")
    enqueue_results(queue, config, exam.result.study_key, objects)
    sender = Sender(config, queue)
    tallies = [sender.send_due(config.destinations[0])]  # nobody listens on the port
    assert tallies[0][Outcome.RETRY] == len(objects)
    assert queue.counts() == {"pacs": {"pending": len(objects)}}
    assert "no association" in queue.reasons()["pacs"]
    assert all(s.state is DeliveryState.PENDING for s in queue.of_study(exam.result.study_key))
    orthanc.start()
    deadline = time.monotonic() + 20
    while queue.counts()["pacs"].get("delivered", 0) < len(objects) and time.monotonic() < deadline:
        tallies.append(sender.send_due(config.destinations[0]))
        time.sleep(0.05)
    assert queue.counts() == {"pacs": {"delivered": len(objects)}}
    assert delivered_total(tallies) == len(objects)  # each object stored successfully exactly once
    assert orthanc.new_instance_events() == len(objects) == len(orthanc.instances())


def test_exactly_once_across_a_sender_restart(exam, orthanc, tmp_path):
    orthanc.start()
    objects = written(exam, tmp_path / "out")
    config = forward(orthanc)
    db = tmp_path / "forward.sqlite"
    first = SendQueue(db)
    enqueue_results(first, config, exam.result.study_key, objects)
    Sender(config, first).send_due(config.destinations[0])  # all delivered
    more = written(exam, tmp_path / "out")  # a re-analysis: new instances
    enqueue_results(first, config, exam.result.study_key, more)
    claimed = first.claim("pacs")  # the process dies while these are "sending"
    assert len(claimed) == len(more)
    first.close()
    second = SendQueue(db)
    assert enqueue_results(second, config, exam.result.study_key, objects + more) == 0
    stop = threading.Event()
    sender = Sender(config, second)
    thread = threading.Thread(target=sender.run, args=(stop,), daemon=True)
    thread.start()  # requeues the interrupted ones first
    deadline = time.monotonic() + 20
    while second.counts()["pacs"].get("delivered", 0) < len(objects) + len(more) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(5)
    assert second.counts() == {"pacs": {"delivered": len(objects) + len(more)}}
    assert orthanc.new_instance_events() == len(objects) + len(more) == len(orthanc.instances())


def test_orthanc_killed_mid_transfer_is_resent(exam, orthanc, tmp_path):
    orthanc.start()
    objects = []
    for _ in range(3):  # 3 analyses: 21 objects, 12 of them ~10 MB secondary captures
        objects += written(exam, tmp_path / "out")
    config = forward(orthanc)
    queue = SendQueue(tmp_path / "forward.sqlite")
    enqueue_results(queue, config, exam.result.study_key, objects)
    stop = threading.Event()
    thread = threading.Thread(target=Sender(config, queue).run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while queue.counts().get("pacs", {}).get("delivered", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.002)
    orthanc.kill()  # SIGKILL while the association is carrying the rest
    killed_at = queue.counts()["pacs"]
    assert killed_at.get("delivered", 0) < len(objects), "the transfer finished before the kill"
    time.sleep(0.5)
    orthanc.start()
    deadline = time.monotonic() + 60
    while queue.counts()["pacs"].get("delivered", 0) < len(objects) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(10)
    states = queue.of_study(exam.result.study_key)
    assert all(s.state is DeliveryState.DELIVERED for s in states)
    assert any(s.attempts >= 2 for s in states)  # resent after the kill
    assert len(orthanc.instances()) == len(objects)


def test_wrong_ae_destination_is_refused_kept_and_says_why(exam, orthanc, tmp_path):
    orthanc.start()
    objects = written(exam, tmp_path / "out")
    config = forward(orthanc, dest=destination(orthanc, name="wrong", ae_title="NOT_ORTHANC"))
    queue = SendQueue(tmp_path / "forward.sqlite")
    enqueue_results(queue, config, exam.result.study_key, objects)
    sender = Sender(config, queue)
    tally = sender.send_due(config.destinations[0])
    assert tally[Outcome.REFUSED] == len(objects)
    assert queue.counts() == {"wrong": {"refused": len(objects)}}
    reason = queue.reasons()["wrong"]
    assert "rejected" in reason and "Called AE" in reason, reason
    time.sleep(0.3)
    assert sender.send_due(config.destinations[0]) == {o: 0 for o in Outcome}  # not retried forever
    assert all(path.exists() for _, path in objects)  # kept
    assert orthanc.instances() == []
    assert queue.resend("wrong") == len(objects)  # an operator can queue them again


def test_destination_refusing_our_calling_ae_is_refused(exam, orthanc, tmp_path):
    orthanc.start()
    objects = written(exam, tmp_path / "out")[:1]
    config = forward(orthanc, calling_ae_title="STRANGER", timeout_s=30.0)  # a loaded CI box: the rejection, not a timeout
    queue = SendQueue(tmp_path / "forward.sqlite")
    enqueue_results(queue, config, exam.result.study_key, objects)
    Sender(config, queue).send_due(config.destinations[0])
    assert queue.counts()["pacs"] == {"refused": 1}, queue.reasons()
    assert orthanc.instances() == []


def test_no_patient_data_in_forward_logs(exam, orthanc, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    objects = written(exam, tmp_path / "out")
    config = forward(orthanc)
    queue = SendQueue(tmp_path / "forward.sqlite")
    enqueue_results(queue, config, exam.result.study_key, objects)
    Sender(config, queue).send_due(config.destinations[0])  # down: warnings
    orthanc.start()
    time.sleep(0.3)
    Sender(config, queue).send_due(config.destinations[0])
    assert queue.counts()["pacs"] == {"delivered": len(objects)}
    source = exam.sources[0]
    uids = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for _, p in objects}
    for value in (str(source.PatientName), str(source.PatientID), source.StudyInstanceUID, *uids):
        assert value not in caplog.text


def test_tls_destination_verified_and_delivered(exam, tmp_path):
    server_cert, server_key, ca = make_tls(tmp_path / "pki")
    _, _, other_ca = make_tls(tmp_path / "pki", name="other")
    (tmp_path / "orthanc").mkdir()
    orthanc = Orthanc(tmp_path / "orthanc", tls=(server_cert, server_key, ca)).start()
    try:
        objects = written(exam, tmp_path / "out")[:2]
        untrusted = forward(orthanc, dest=destination(orthanc, name="untrusted", tls=True, tls_ca_file=other_ca))
        queue = SendQueue(tmp_path / "forward.sqlite")
        enqueue_results(queue, untrusted, exam.result.study_key, objects)
        assert Sender(untrusted, queue).send_due(untrusted.destinations[0])[Outcome.DELIVERED] == 0
        assert queue.counts()["untrusted"] == {"pending": 2} and queue.reasons()["untrusted"]
        plain = forward(orthanc, dest=destination(orthanc, name="plain"))  # the port speaks TLS only
        enqueue_results(queue, plain, exam.result.study_key, objects)
        assert Sender(plain, queue).send_due(plain.destinations[0])[Outcome.DELIVERED] == 0
        trusted = forward(orthanc, dest=destination(orthanc, name="tls", tls=True, tls_ca_file=ca))
        enqueue_results(queue, trusted, exam.result.study_key, objects)
        assert Sender(trusted, queue).send_due(trusted.destinations[0])[Outcome.DELIVERED] == 2
        assert len(orthanc.instances()) == 2
    finally:
        orthanc.stop()


@pytest.mark.parametrize("attempts, expected", [(1, 2.0), (2, 4.0), (3, 8.0), (8, 256.0), (9, 300.0), (30, 300.0)])
def test_backoff_doubles_up_to_the_maximum(attempts, expected):
    assert backoff_s(attempts, ForwardConfig()) == expected


@pytest.mark.parametrize("table, message", [
    ('[[forward.destinations]]\nname="a"\nae_title="X\\\\Y"\nhost="h"', "AE title"),
    ('[[forward.destinations]]\nname="a"\nae_title="TOOLONGAETITLE_123"\nhost="h"', "AE title"),
    ('[[forward.destinations]]\nname="a"\nae_title="P"\nhost="h"\nport=0', "TCP port"),
    ('[[forward.destinations]]\nname="a"\nae_title="P"\nhost="h"\nobjects=["pdf"]', "not one of"),
    ('[[forward.destinations]]\nname="a"\nae_title="P"\nhost="h"\n[[forward.destinations]]\nname="a"\n'
     'ae_title="Q"\nhost="h"', "unique"),
    ('[forward]\nmax_attempts=0', "max_attempts"),
])
def test_bad_forward_configuration_is_a_config_error(tmp_path, table, message):
    path = tmp_path / "c.toml"
    path.write_text(table)
    with pytest.raises(ConfigError, match=message):
        load_config(path, env={})


def test_reread_is_the_stored_object(exam, tmp_path):
    """A queued object's file is what goes out: a full DICOM file (meta + body) per object."""
    for _kind, path in written(exam, tmp_path):
        ds = pydicom.dcmread(path)
        buffer = BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        assert buffer.getvalue()[128:132] == b"DICM"
