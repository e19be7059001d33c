"""Run the client programs of docs/protocol.md ("Client examples") as written, against the
live server in $PERSONAMCP_URL / $PERSONAMCP_KEY (scripts/test_clients.sh starts one).

    python clients/check_snippets.py [python js csharp cpp]

Each program must exit 0, stream a reply and print the typed error for an unknown persona.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "protocol.md"


def snippets() -> dict[str, str]:
    text = DOC.read_text()
    section = text[text.index("## Client examples") :]
    section = section[: section.index("\n## ", 3)]
    return {lang: code for lang, code in re.findall(r"```(\w+)\n(.*?)```", section, re.S)}


def run(cmd: list[str], **kwargs) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kwargs)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out.stdout


def main() -> None:
    wanted = sys.argv[1:] or ["python", "js", "csharp", "cpp"]
    code = snippets()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        for lang in wanted:
            if lang == "python":
                path = tmpdir / "hello.py"
                path.write_text(code["python"])
                env_py = dict(env, PYTHONPATH=str(ROOT / "clients" / "python" / "src"))
                output = run([sys.executable, str(path)], env=env_py)
            elif lang == "js":
                path = ROOT / f".snippet-hello-{os.getpid()}.mjs"  # "in the repository's root"
                path.write_text(code["js"])
                try:
                    output = run(["node", str(path)], env=env, cwd=ROOT)
                finally:
                    path.unlink()
            elif lang == "csharp":
                (tmpdir / "hello.cs").write_text(code["csharp"])
                exe = tmpdir / "hello.exe"
                run(["mcs", "-nologo", "-r:clients/unity/bin/PersonaMCP.Core.dll", f"-out:{exe}",
                     str(tmpdir / "hello.cs")], cwd=ROOT)  # fmt: skip
                env_cs = dict(env, MONO_PATH=str(ROOT / "clients" / "unity" / "bin"))
                output = run(["mono", str(exe)], env=env_cs, cwd=ROOT)
            elif lang == "cpp":
                (tmpdir / "hello.cpp").write_text(code["cpp"])
                exe = tmpdir / "hello"
                run(["g++", "-std=c++17", "-pthread", "-Iclients/unreal/Source/PersonaMCP/Public",
                     "-Iclients/unreal/tests", str(tmpdir / "hello.cpp"),
                     "clients/unreal/build/core.o", "clients/unreal/build/beast.o", "-o", str(exe)],
                    cwd=ROOT)  # fmt: skip
                output = run([str(exe)], env=env, cwd=ROOT)
            else:
                raise SystemExit(f"unknown snippet language {lang}")
            if "error -32001" not in output or "mood" not in output:
                raise SystemExit(f"{lang} snippet printed something unexpected:\n{output}")
            print(f"docs/protocol.md {lang} snippet: ok")


if __name__ == "__main__":
    main()
