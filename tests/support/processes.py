"""Child processes the tests start."""

import subprocess


def stop(process: subprocess.Popen, timeout: float = 10) -> None:
    """Terminate `process`, and kill it if it has not ended within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)
