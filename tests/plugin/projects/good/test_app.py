"""The application's own tests: they run as usual beside rehearse's."""


def test_the_app_works():
    assert sum([1, 2]) == 3
