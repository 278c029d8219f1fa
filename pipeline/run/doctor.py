"""`mhpipe doctor`: is this installation ready to run? One result per check, like `dbt debug`.

Each check gives a status (`ok`, `warn`, `FAIL`), a short detail and, when not ok, a hint.
Nothing is created or changed: a missing key store or master key is reported, never made
(the stores are opened only when they exist, the vault read-only, the lock only probed).
No key byte, identifier or record content is ever part of a result: the master key is
named by where it comes from, a record is decrypted only to prove the key opens it.

The orchestrator's own checks (its package imports, its home folder) are added by the CLI,
since this library never imports it.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Optional

from pipeline.layout import Layout

OK, WARN, FAIL = "ok", "warn", "FAIL"
MIN_PYTHON = (3, 11)
PACKAGES = ("polars", "duckdb", "presidio-analyzer", "spacy", "cryptography", "pydantic")
LOCK_FILE = Path(__file__).resolve().parents[2] / "requirements.lock"
DISK_WARN_BYTES = 1024 ** 3  # under 1 GiB free: a large night may not fit
VENV_HINT = "install the pinned environment: make venv (pip --require-hashes -r requirements.lock)"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    hint: Optional[str] = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pins(lock: Path = LOCK_FILE) -> dict[str, str]:
    """name -> version pinned in requirements.lock (empty if there is none)."""
    if not lock.exists():
        return {}
    pins = {}
    for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", lock.read_text(), re.M):
        pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def check_python() -> Check:
    v = sys.version_info
    text = f"{v.major}.{v.minor}.{v.micro} ({sys.executable})"
    if (v.major, v.minor) < MIN_PYTHON:
        return Check("python", FAIL, text, "mhpipe needs Python 3.11 or later")
    return Check("python", OK, text)


def check_packages(names: tuple[str, ...] = PACKAGES) -> list[Check]:
    pins = _pins()
    out = []
    for name in names:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            out.append(Check(f"package {name}", FAIL, "not installed", VENV_HINT))
            continue
        pin = pins.get(name.lower())
        if pin and pin != version:
            out.append(Check(f"package {name}", WARN, f"{version} (requirements.lock pins {pin})",
                             VENV_HINT))
        else:
            out.append(Check(f"package {name}", OK, version + (" (pinned)" if pin else "")))
    return out


def check_spacy_model() -> Check:
    from pipeline.deid.engine import MODEL_ENV, SPACY_EXCLUDE, model_name

    name = model_name()
    try:
        import spacy

        nlp = spacy.load(name, exclude=list(SPACY_EXCLUDE))
    except Exception as exc:  # noqa: BLE001 - reported by type: any failure is a failure
        return Check("spaCy model", FAIL, f"{name} does not load ({type(exc).__name__})",
                     f"{VENV_HINT}; or set ${MODEL_ENV} to an installed model")
    ner = "ner" in nlp.pipe_names
    detail = f"{name} {nlp.meta.get('version', '?')} loads (spaCy {spacy.__version__})"
    if not ner:
        return Check("spaCy model", FAIL, detail + ", but has no NER component",
                     f"set ${MODEL_ENV} to a model with named-entity recognition")
    return Check("spaCy model", OK, detail)


def check_recognizers() -> Check:
    """Which recognizer file the engine will load: a replaced file can weaken
    de-identification, so an override is a warning an operator must see."""
    from pipeline.deid.engine import RECOGNIZERS_ENV, RECOGNIZERS_FILE, recognizers_path

    path = recognizers_path()
    if path != RECOGNIZERS_FILE:
        return Check("recognizers", WARN, f"${RECOGNIZERS_ENV} replaces the shipped file: {path}",
                     f"unset ${RECOGNIZERS_ENV} unless a data steward approved that file")
    return Check("recognizers", OK, f"the shipped file {RECOGNIZERS_FILE.name}")


def check_policy(policies: Path, today: date) -> Check:
    from pipeline.policy import PolicyError, load_policy

    try:
        lp = load_policy(policies)
        lp.check_in_effect(today)
    except PolicyError as exc:
        first = str(exc.issues[0]) if exc.issues else "invalid"
        more = f" (+{len(exc.issues) - 1} more)" if len(exc.issues) > 1 else ""
        return Check("policy", FAIL, first + more, f"mhpipe policy check {policies}")
    except OSError as exc:
        return Check("policy", FAIL, f"{policies} cannot be read ({type(exc).__name__})",
                     "check --policies")
    return Check("policy", OK, f"version {lp.version}, digest {lp.digest[:12]}, "
                               f"{len(lp.files)} file(s)")


def check_data_folder(data: Path) -> Check:
    if not data.is_dir():
        return Check("data folder", FAIL, f"{data} does not exist",
                     "check --data, or start a new data folder with: mhpipe run --init")
    mode = data.stat().st_mode & 0o777
    if mode & 0o077:
        return Check("data folder", WARN, f"{data} is mode {mode:o}, readable by others",
                     f"chmod 700 {data} (every run tightens it)")
    return Check("data folder", OK, f"{data} (mode {mode:o})")


def _provider(layout):
    """The configured master key, never created here. Returns (provider, source)."""
    from pipeline.vault.crypto import MASTER_KEY_ENV, load_master_key
    from pipeline.vault.stores import KEY_PROVIDER_ENV, key_provider

    if os.environ.get(KEY_PROVIDER_ENV):
        return key_provider(layout), f"provider ${KEY_PROVIDER_ENV}"
    source = (f"${MASTER_KEY_ENV}" if os.environ.get(MASTER_KEY_ENV)
              else f"key file {layout.master_key}")
    return load_master_key(layout.master_key, create=False), source


def check_stores(layout) -> list[Check]:
    """Master key present and the one the key store was made with; key store and vault open;
    one stored record decrypts."""
    from pipeline.vault.crypto import CryptoError
    from pipeline.vault.keystore import KeyStore

    hint = ("the data folder's keys were made with another master key? check "
            "$MHPIPE_MASTER_KEY or keys/master.key (never paste the key anywhere)")
    try:
        provider, source = _provider(layout)
    except CryptoError as exc:
        return [Check("master key", FAIL, str(exc), hint),
                Check("stores", WARN, "not checked: no usable master key")]
    except Exception as exc:  # noqa: BLE001 - a key provider plug-in may raise anything
        return [Check("master key", FAIL, f"key provider failed ({type(exc).__name__})", hint),
                Check("stores", WARN, "not checked: no usable master key")]
    if not layout.keystore.exists():
        return [Check("master key", WARN, f"present ({source}); no key store to check it against",
                      "run the nightly batch once (mhpipe run --init on a new data folder)"),
                Check("key store", FAIL if layout.vault.exists() else WARN,
                      f"no key store at {layout.keystore}",
                      "a vault without its key store cannot be read: restore keys/ from backup"
                      if layout.vault.exists() else "mhpipe run --init creates it")]
    try:
        keys = KeyStore(layout.keystore, provider)
    except CryptoError as exc:
        return [Check("master key", FAIL, f"{source}: {exc}", hint),
                Check("stores", WARN, "not checked: the master key does not open the key store")]
    except Exception as exc:  # noqa: BLE001 - a locked or corrupt store
        return [Check("master key", WARN, f"present ({source}); not verified"),
                Check("key store", FAIL, f"does not open ({type(exc).__name__})",
                      "is another process writing it? restore keys/ from backup if corrupt")]
    with keys:
        out = [Check("master key", OK, f"present ({source}), kek {provider.kek_id}, opens the "
                                       "key store"),
               Check("key store", OK, f"{layout.keystore.name}: {keys.count()} data key(s)")]
        out.append(_check_vault(layout, keys))
    return out


def _check_vault(layout, keys) -> Check:
    import duckdb

    from pipeline.vault.crypto import CryptoError, open_sealed
    from pipeline.vault.store import Vault, record_aad

    if not layout.vault.exists():
        return Check("vault", WARN, f"no vault at {layout.vault}: nothing ingested yet",
                     "run the nightly batch: mhpipe run")
    try:
        vault = Vault(layout.vault, keys, read_only=True)
    except duckdb.Error as exc:
        return Check("vault", WARN, f"does not open read-only ({type(exc).__name__}): in use by "
                                    "a running process?", "run mhpipe doctor again after the run")
    with vault:
        per = vault.datasets()
        rows = vault.con.execute("SELECT record_id, dataset, subject, key_id, nonce, ciphertext "
                                 "FROM records LIMIT 20").fetchall()
        detail = f"{sum(per.values())} record(s) in {len(per)} dataset(s)"
        for record_id, dataset, subject, key_id, nonce, ct in rows:
            dek = keys.key_by_id(key_id)
            if dek is None:
                continue  # shredded: unreadable by design
            try:
                open_sealed(dek, nonce, ct, record_aad(record_id, dataset, subject))
            except CryptoError:
                return Check("vault", FAIL, detail + "; a record does not decrypt",
                             "the vault and key store do not belong together: restore both "
                             "from the same backup")
            return Check("vault", OK, detail + "; a record decrypts")
    return Check("vault", OK, detail)


def check_lock(data: Path) -> Check:
    """Probe the run lock without taking it for long or creating anything."""
    path = Layout(data).run_lock
    if not path.exists():
        return Check("run lock", OK, "free (no run yet)")
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            return Check("run lock", WARN, f"held ({holder})",
                         "a run is in progress: commands that change the data wait for it")
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return Check("run lock", OK, "free")


def check_publish(data: Path, publish: Path | None) -> list[Check]:
    from pipeline.run.outputs import current_release
    from pipeline.layout import Layout, LayoutError

    try:
        layout = Layout(data, publish)
    except LayoutError as exc:
        return [Check("publish folder", FAIL, str(exc), "give --publish a folder outside --data")]
    folder = layout.warehouse
    if not folder.is_dir():
        return [Check("publish folder", WARN, f"{folder} does not exist yet",
                      "the first release creates it (mhpipe run)")]
    out = [Check("publish folder", OK, str(folder))]
    try:
        release = current_release(layout)
    except Exception as exc:  # noqa: BLE001 - a damaged release file
        return out + [Check("current release", FAIL, f"unreadable ({type(exc).__name__})",
                            "rebuild it: mhpipe publish --now --reason ...")]
    if release is None:
        return out + [Check("current release", WARN, "none yet",
                            "the first release follows publication.cadence; or mhpipe publish "
                            "--now --reason ...")]
    rid, cutoff = release
    return out + [Check("current release", OK, f"release {rid}"
                                               + (f", data before {cutoff}" if cutoff else ""))]


def existing_parent(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable(name: str, path: Path, hint: str) -> Check:
    """A folder that must be writable (created later if missing: its parent then must be)."""
    if path.is_dir():
        if os.access(path, os.W_OK | os.X_OK):
            return Check(name, OK, f"{path} (writable)")
        return Check(name, FAIL, f"{path} is not writable", hint)
    if path.exists():
        return Check(name, FAIL, f"{path} is not a folder", hint)
    base = existing_parent(path)
    if base.is_dir() and os.access(base, os.W_OK | os.X_OK):
        return Check(name, OK, f"{path} (created on first use)")
    return Check(name, FAIL, f"{path} cannot be created ({base} is not writable)", hint)


def check_disk(data: Path) -> Check:
    from pipeline.run.stages import MIN_FREE_BYTES

    where = existing_parent(data)
    free = shutil.disk_usage(where).free
    detail = f"{free / 2**30:.1f} GiB free under {where}"
    if free < MIN_FREE_BYTES:
        return Check("disk", FAIL, detail, f"a run needs at least {MIN_FREE_BYTES // 2**20} MiB "
                                           "plus four times its new input: free space")
    if free < DISK_WARN_BYTES:
        return Check("disk", WARN, detail, "a large night of input may not fit: free space")
    return Check("disk", OK, detail)


def check_tldextract_cache(data: Path) -> Check:
    value = os.environ.get("TLDEXTRACT_CACHE")
    default = data.absolute() / "cache" / "tldextract"
    if not value:
        return Check("TLDEXTRACT_CACHE", WARN, "not set in the environment",
                     f"mhpipe run sets it to {default}; set it for other entry points "
                     "(workers, serve) so the e-mail recognizer never reaches the network")
    return check_writable("TLDEXTRACT_CACHE", Path(value), "point it at a writable folder")


def run_checks(data: Path, policies: Path, publish: Path | None = None,
               today: date | None = None, packages: tuple[str, ...] = PACKAGES,
               extra: Callable[[], list[Check]] | None = None) -> list[Check]:
    """Every check, in display order. `extra` adds checks after the packages' (the CLI's
    orchestrator checks)."""
    from pipeline.layout import Layout, LayoutError

    data = Path(data)
    results = [check_python(), *check_packages(packages)]
    if extra is not None:
        results += extra()
    results += [check_spacy_model(), check_recognizers(),
                check_policy(Path(policies), today or date.today()),
                check_data_folder(data)]
    try:
        layout = Layout(data, publish)
    except LayoutError:
        layout = Layout(data)  # the publish check below reports the bad --publish
    if data.is_dir():
        results += check_stores(layout)
        results.append(check_lock(data))
    results += check_publish(data, publish)
    results += [check_disk(data), check_tldextract_cache(data)]
    return results


def failed(results: list[Check]) -> bool:
    return any(r.status == FAIL for r in results)
