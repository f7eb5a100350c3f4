"""The persistent compilation cache: where it goes, the opt-outs, and that a second
process loads what the first compiled (same numbers)."""

import os
import subprocess
import sys

from iclv_jax import compilecache

PROGRAM = """
import jax, iclv_jax as ij
from iclv_jax import datasets
df, model, truth = datasets.beverage(n_people=30, n_situations=2, seed=5)
print(jax.config.jax_compilation_cache_dir)
print(repr(ij.Problem(model, df, 10).loglike(truth)))
"""


def _run(env_updates: dict) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICLV_JAX_")}
    env.update(env_updates)
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_a_second_process_reuses_the_compiled_programs(tmp_path):
    folder = tmp_path / "cache"
    first = _run({"ICLV_JAX_CACHE": str(folder)})
    entries = sorted(p.name for p in folder.iterdir())
    second = _run({"ICLV_JAX_CACHE": str(folder)})
    assert first[0] == second[0] == str(folder)
    assert len(entries) > 5  # the likelihood's programs were written
    assert sorted(p.name for p in folder.iterdir()) == entries  # and read, not rewritten
    assert first[1] == second[1]  # the same log-likelihood to the last bit


def test_opting_out_leaves_the_cache_off(tmp_path):
    out = _run({"ICLV_JAX_NO_CACHE": "1", "XDG_CACHE_HOME": str(tmp_path)})
    assert out[0] == "None" and not any(tmp_path.iterdir())


def test_the_default_folder_is_per_user(monkeypatch, tmp_path):
    monkeypatch.delenv("ICLV_JAX_CACHE", raising=False)
    monkeypatch.delenv("ICLV_JAX_NO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compilecache.cache_folder() == tmp_path / "iclv_jax" / "jax"
    monkeypatch.setenv("ICLV_JAX_NO_CACHE", "0")  # "0" does not opt out
    assert compilecache.cache_folder() == tmp_path / "iclv_jax" / "jax"


def test_a_folder_that_cannot_be_made_leaves_the_cache_off(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert not compilecache.writable_folder(blocker / "cache")
    assert compilecache.writable_folder(tmp_path / "made" / "here")
    out = _run({"ICLV_JAX_CACHE": str(blocker / "cache")})
    assert out[0] == "None"  # and the run went on without it
