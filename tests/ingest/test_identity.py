from ingest.core.identity import Me

ME = Me(names=("Robin Vale", "robin.vale_"), emails=("Robin.Vale@gmail.com",), phones=("+44 7700 900456",))


def test_names_ignore_case_whitespace_bidi_tilde_and_emoji():
    for sender in [
        "Robin Vale",
        "robin  vale",
        "\u200eRobin Vale",
        "~\u00a0Robin Vale",
        "Robin Vale 🌻",
        "ROBIN.VALE_",
    ]:
        assert ME.is_me(sender), sender
    assert not ME.is_me("Robin Valentine")
    assert not ME.is_me(None)


def test_phone_numbers_match_in_any_format():
    assert ME.is_me("+44 7700 900456")
    assert ME.is_me("07700 900456")
    assert ME.is_me("\u200e+44\u00a07700\u00a0900456")
    assert not ME.is_me("+44 7700 900457")


def test_gmail_addresses_ignore_dots_case_and_plus_tags():
    assert ME.is_my_email("robinvale+news@gmail.com")
    assert ME.is_my_email("<ROBIN.VALE@googlemail.com>")
    assert not ME.is_my_email("robin.vale@example.com")
    assert Me(emails=("r.v@example.com",)).is_my_email("R.V@Example.com")
    assert not Me(emails=("r.v@example.com",)).is_my_email("rv@example.com")
