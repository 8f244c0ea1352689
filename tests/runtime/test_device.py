"""What torch.compile needs on the CPU is named when it is missing."""

from __future__ import annotations

import sysconfig

import torch

from unlogit.runtime import device


def test_a_missing_compiler_is_named(monkeypatch):
    monkeypatch.setattr(device.shutil, "which", lambda _name: None)
    assert "C++ compiler" in device.compile_toolchain_missing(torch.device("cpu"))


def test_missing_python_headers_are_named(monkeypatch, tmp_path):
    monkeypatch.setattr(device.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(sysconfig, "get_paths", lambda: {"include": str(tmp_path)})  # a folder without Python.h
    assert "Python.h" in device.compile_toolchain_missing(torch.device("cpu"))
    (tmp_path / "Python.h").write_text("")
    assert device.compile_toolchain_missing(torch.device("cpu")) is None


def test_cuda_needs_no_host_toolchain(monkeypatch):
    monkeypatch.setattr(device.shutil, "which", lambda _name: None)
    assert device.compile_toolchain_missing(torch.device("cuda")) is None
