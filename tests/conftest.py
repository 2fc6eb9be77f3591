import sys
from pathlib import Path

# tests/toy.py holds a tiny model for testing the base contract on its own.
sys.path.insert(0, str(Path(__file__).parent))
