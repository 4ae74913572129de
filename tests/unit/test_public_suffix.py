"""registrable_domain on internationalised suffixes: the list is loaded without punycoded
copies of its rules (addresses._psl), so every form must reach it decoded."""

import pytest

from mail2dataverse.addresses import registrable_domain


@pytest.mark.parametrize(("domain", "expected"), [
    ("a.shop.xn--gmqw5a.XN--j6w193g", "shop.個人.香港"),  # a multi-label suffix, punycoded
    ("a.shop.個人.香港", "shop.個人.香港"),
    ("x.y.xn--p1ai", "y.рф"),
    ("mail.example.xn--fiqs8s", "example.中国"),
    ("a.b.c.kawasaki.jp", "b.c.kawasaki.jp"),  # a wildcard rule
    ("x.city.kawasaki.jp", "city.kawasaki.jp"),  # and its exception
])
def test_the_registrable_part_is_the_same_in_either_form(domain, expected):
    assert registrable_domain(domain) == expected
