"""Rotated credentials reach a running exporter without a restart, and a key pair is never mixed.

The files are laid out as Kubernetes mounts a Secret (``ak -> ..data/ak``, ``..data -> ..<timestamp>``) and
rotated as the kubelet does (a new directory, then ``..data`` re-pointed in one rename). The simulator's IAM
accepts only the keys it holds: the old one is deleted the moment the files are swapped.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from exporter.config import load_config
from exporter.simulator import AccessKey, IamService, World
from exporter.sources.builtin import BUILTIN
from exporter.wiring import Exporter

from .conftest import UNPACED, parse_samples, wait_until

OLD = AccessKey("HPUAOLDKEY0000000001", "old-Secret-Key-1c9e", "0a1b2c3d4e5f60718293a4b5c6d7e8f9")
NEW = AccessKey("HPUANEWKEY0000000002", "new-Secret-Key-77d0", OLD.project_id)
PROJECT = "6ecbc5bac7c8442fb3d2563d53c13582"
REPOSITORY = 2111976239


class SecretMount:
    """A directory laid out and updated as the kubelet does with a Secret volume."""

    def __init__(self, root: Path, files: dict[str, str]) -> None:
        self.root = root
        self.generation = 0
        root.mkdir()
        self.update(files)
        for name in files:
            (root / name).symlink_to(Path("..data") / name)

    def update(self, files: dict[str, str]) -> None:
        """Write the new files into a fresh directory, then swap ``..data`` to it in one rename."""
        self.generation += 1
        target = self.root / f"..2026_12_06_{self.generation}"
        target.mkdir()
        for name, text in files.items():
            (target / name).write_text(text + "\n")
        link = self.root / "..data_tmp"
        link.symlink_to(target.name)
        os.replace(link, self.root / "..data")


def aksk_config(path: Path, url: str, ak_file: Path, sk_file: Path, interval: float = 60) -> Path:
    path.write_text("\n".join([
        "region: test", "endpoints:", f"  repo: {url}", f"  build: {url}",
        "auth:", "  aksk:", f"    ak_file: {ak_file}", f"    sk_file: {sk_file}", f"    project_id: {OLD.project_id}",
        "poll:", f"  interval_seconds: {interval}", f"  timeout_seconds: {min(5, interval / 2)}",
        f"  rate_limit: {UNPACED}",
        "projects:", f"  - id: {PROJECT}", "repositories:", f"  - id: {REPOSITORY}", "    pipelines: [6, 7]",
    ]) + "\n")
    return path


def world() -> World:
    return World(seed=4, projects={PROJECT: 3}, pipelines={(REPOSITORY, 6): 2, (REPOSITORY, 7): 2})


def refused(sim) -> int:
    return sum(1 for record in sim.requests if record.status == 401)


def test_a_secret_rotated_under_a_running_exporter_costs_no_failed_poll(tmp_path, simulator_factory, caplog):
    iam = IamService(access_keys=[OLD])
    sim = simulator_factory(world(),
                            token=None, iam=iam)
    mount = SecretMount(tmp_path / "secret", {"ak": OLD.ak, "sk": OLD.sk})
    config = aksk_config(tmp_path / "config.yaml", sim.url, mount.root / "ak", mount.root / "sk", interval=0.4)
    exporter = Exporter(load_config(config, sources=BUILTIN))
    try:
        caplog.set_level(logging.INFO)
        exporter.serve(("127.0.0.1", 0))
        wait_until(lambda: exporter.poller.snapshot.generation >= 2)
        assert exporter.poller.snapshot.all_up()
        iam.create_access_key(NEW)  # the operator creates the new key, updates the Secret, deletes the old key
        mount.update({"ak": NEW.ak, "sk": NEW.sk})
        iam.delete_access_key(OLD.ak)
        swapped = exporter.poller.snapshot.generation
        answered = len(sim.requests)
        wait_until(lambda: exporter.poller.snapshot.generation >= swapped + 4)
        assert len(sim.requests) > answered + 4, "polls went on after the swap"
        assert exporter.auth.ak == NEW.ak
        # Every failed poll is logged as a warning with its error (a refusal reads "credentials refused"), as is
        # every key file that could not be read; a slow answer on a loaded machine is not the rotation's.
        failed = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING
                  and ("credentials" in record.getMessage() or record.name.startswith("exporter.auth"))]
        assert failed == []
        samples = parse_samples(exporter.metrics_text().decode())
        ups = [value for (name, labels), value in samples.items()
               if name == "codearts_up" and dict(labels)["api"] != "projectman"]  # the names target aside
        assert len(ups) == 3 and set(ups) == {1}
    finally:
        exporter.close()


def test_a_pair_written_one_file_at_a_time_is_never_sent_mixed(tmp_path, simulator_factory, caplog):
    iam = IamService(access_keys=[OLD, NEW])  # both valid: any 401 below is a mixed pair
    sim = simulator_factory(world(), token=None, iam=iam)
    ak_file, sk_file = tmp_path / "ak", tmp_path / "sk"
    ak_file.write_text(OLD.ak + "\n")
    sk_file.write_text(OLD.sk + "\n")
    exporter = Exporter(load_config(aksk_config(tmp_path / "config.yaml", sim.url, ak_file, sk_file), sources=BUILTIN))
    try:
        assert exporter.poll_once().all_up()
        ak_file.write_text(NEW.ak + "\n")  # half a rotation: the old pair stays in use
        with caplog.at_level(logging.WARNING):
            assert exporter.poll_once().all_up()
            assert exporter.poll_once().all_up()
        assert exporter.auth.ak == OLD.ak
        assert sum("ak_file changed but sk_file did not" in record.getMessage() for record in caplog.records) == 1
        sk_file.write_text(NEW.sk + "\n")  # the other half: the new pair from the next request on
        assert exporter.poll_once().all_up()
        assert exporter.auth.ak == NEW.ak
        assert refused(sim) == 0
        iam.delete_access_key(OLD.ak)
        assert exporter.poll_once().all_up()
        assert refused(sim) == 0
    finally:
        exporter.close()


def test_a_half_changed_pair_that_is_refused_is_read_as_it_is_and_retried(tmp_path, simulator_factory):
    """Only the SK file changes (a typo fixed): the pair in use is kept until CodeArts refuses it, then the
    files are read as they are and the refused request is retried once with them."""
    iam = IamService(access_keys=[OLD])
    sim = simulator_factory(world(), token=None, iam=iam)
    ak_file, sk_file = tmp_path / "ak", tmp_path / "sk"
    ak_file.write_text(OLD.ak + "\n")
    sk_file.write_text("a-typo\n")
    exporter = Exporter(load_config(aksk_config(tmp_path / "config.yaml", sim.url, ak_file, sk_file), sources=BUILTIN))
    try:
        assert not exporter.poll_once().all_up()
        sk_file.write_text(OLD.sk + "\n")
        assert exporter.poll_once().all_up()
    finally:
        exporter.close()


def test_a_rotated_token_file_is_used_from_the_next_request(tmp_path, simulator_factory):
    sim = simulator_factory(world(), token="first-token-3e1")
    mount = SecretMount(tmp_path / "secret", {"token": "first-token-3e1"})
    config = tmp_path / "config.yaml"
    config.write_text("\n".join([
        "region: test", "endpoints:", f"  repo: {sim.url}", f"  build: {sim.url}",
        "auth:", f"  token_file: {mount.root / 'token'}", "poll:", "  interval_seconds: 60", "  timeout_seconds: 5",
        "projects:", f"  - id: {PROJECT}",
    ]) + "\n")
    exporter = Exporter(load_config(config, sources=BUILTIN))
    try:
        assert exporter.poll_once().all_up()
        sim.token = "second-token-8a2"
        mount.update({"token": "second-token-8a2"})
        assert exporter.poll_once().all_up()
        assert refused(sim) == 0  # the file change was seen before the first request, not after a 401
    finally:
        exporter.close()
