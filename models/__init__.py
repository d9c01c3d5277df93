"""Shipped model files and their manifest; read through ``mammoedge.runtime.inference`` registry."""

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
