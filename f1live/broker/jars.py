"""Apache Kafka jars from Maven Central, resolved once into a cache outside the repository.

The broker package ships a ``pom.xml`` naming ``org.apache.kafka:kafka_2.13`` and
``org.apache.kafka:kafka-tools``; :func:`fetch_kafka_jars` runs
``mvn dependency:copy-dependencies`` on it into ``~/.cache/f1live/kafka-<version>/libs``
(or ``Settings.kafka_libs`` / env ``F1LIVE_KAFKA_LIBS``) and reuses that directory after.

>>> from f1live.config import Settings
>>> kafka_libs_dir(Settings(kafka_version="4.1.1")).parts[-2:]
('kafka-4.1.1', 'libs')
>>> parse_java_version('openjdk version "17.0.15" 2025-04-15')
17
>>> parse_java_version('java version "1.8.0_402"')
8
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from f1live.config import Settings

log = logging.getLogger(__name__)

#: The Maven project naming the broker and tools artifacts (a resource of this package).
POM_PATH = Path(__file__).with_name("pom.xml")
#: log4j2 configurations: the broker's (to a file) and the tools' (warnings to stderr).
BROKER_LOG4J = Path(__file__).with_name("log4j2.xml")
TOOLS_LOG4J = Path(__file__).with_name("tools-log4j2.xml")
MIN_JAVA = 17
_MARKER = ".f1live-complete"


def kafka_libs_dir(settings: Settings) -> Path:
    """Where the jars for ``settings.kafka_version`` live (may not exist yet)."""
    if settings.kafka_libs is not None:
        return Path(settings.kafka_libs)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "f1live" / f"kafka-{settings.kafka_version}" / "libs"


def parse_java_version(text: str) -> int | None:
    """Major version from ``java -version`` output (``1.8`` -> 8)."""
    m = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def find_java() -> tuple[str | None, int | None]:
    """The ``java`` to run (``$JAVA_HOME/bin/java`` first, then ``PATH``) and its major version."""
    candidates: list[str] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(on_path)
    for java in candidates:
        if not java or not os.access(java, os.X_OK):
            continue
        try:
            out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        return java, parse_java_version(out.stderr + out.stdout)
    return None, None


def java_problem() -> str | None:
    """``None`` when a Java >= 17 is available, else what is missing (for warnings/errors)."""
    java, version = find_java()
    if java is None:
        return f"no Java found (Apache Kafka needs Java >= {MIN_JAVA}; set JAVA_HOME or put java on PATH)"
    if version is None or version < MIN_JAVA:
        return f"{java} is Java {version}, Apache Kafka {MIN_JAVA}+ is needed"
    return None


def _pom_digest(version: str) -> str:
    return hashlib.sha256(POM_PATH.read_bytes() + version.encode()).hexdigest()[:16]


def jars_ready(settings: Settings) -> bool:
    """True when the cache holds a complete resolution of this pom at this version."""
    libs = kafka_libs_dir(settings)
    marker = libs / _MARKER
    if settings.kafka_libs is not None and libs.is_dir() and any(libs.glob("kafka_2.13-*.jar")):
        return True  # a user-provided directory: trust it if it has the broker jar
    return marker.exists() and marker.read_text().strip() == _pom_digest(settings.kafka_version)


def fetch_kafka_jars(settings: Settings, *, force: bool = False) -> Path:
    """Resolve the Kafka broker + tools jars with Maven (once) and return the ``libs`` dir.

    Concurrent callers wait on a file lock; the result is written to a temporary directory
    and renamed into place, so a half-resolved cache is never used.

    Raises:
        RuntimeError: Maven missing or resolution failed (with Maven's output tail).
    """
    libs = kafka_libs_dir(settings)
    if not force and jars_ready(settings):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError(
            f"Apache Kafka {settings.kafka_version} jars are not in {libs} and Maven (mvn) is "
            "not installed to fetch them; install Maven, set F1LIVE_KAFKA_LIBS to a directory "
            "of Kafka jars, set KAFKA_HOME, or use --broker tansu"
        )
    libs.parent.mkdir(parents=True, exist_ok=True)
    with open(libs.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be resolving right now
        if not force and jars_ready(settings):
            return libs
        tmp = Path(tempfile.mkdtemp(prefix=".libs-", dir=libs.parent))
        cmd = [
            mvn, "-q", "-B", "-f", str(POM_PATH), "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}", f"-Dkafka.version={settings.kafka_version}",
        ]  # fmt: skip
        log.info("resolving Apache Kafka %s jars from Maven Central into %s", settings.kafka_version, libs)
        t0 = time.monotonic()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError("Maven took more than 15 min resolving the Kafka jars") from None
        if proc.returncode != 0 or not any(tmp.glob("kafka_2.13-*.jar")):
            shutil.rmtree(tmp, ignore_errors=True)
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
            raise RuntimeError(
                f"Maven could not resolve org.apache.kafka:kafka_2.13:{settings.kafka_version} "
                f"(exit {proc.returncode}):\n{tail}"
            )
        (tmp / _MARKER).write_text(_pom_digest(settings.kafka_version) + "\n")
        if libs.exists():
            shutil.rmtree(libs)
        os.replace(tmp, libs)
        log.info("resolved %d jars in %.1f s", len(list(libs.glob("*.jar"))), time.monotonic() - t0)
    return libs


def classpath(libs: Path) -> str:
    """The JVM class path for every jar in ``libs`` (a ``dir/*`` wildcard, as Kafka's scripts)."""
    return str(libs / "*")
