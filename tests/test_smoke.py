import leakcheck


def test_version_is_exposed() -> None:
    assert leakcheck.__version__
