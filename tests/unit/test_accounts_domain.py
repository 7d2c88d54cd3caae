from datetime import UTC, datetime, timedelta

import pytest

from chassis.auth import Principal
from chassis.errors import DomainError, Forbidden
from moha_contracts import AccountActivated, PasswordChanged, PasswordReset
from services.accounts.domain.model import (
    PasswordPolicyViolated,
    Unit,
    check_issuance,
    check_password_policy,
    issue_account,
    new_initial_password,
    register_root,
    register_unit,
)
from services.accounts.domain.throttle import ACCOUNT, ADDRESS, KNOWN_ADDRESSES, PAIR, Counter, keys_for

ROOT = register_root("BNV", "Bộ Nội vụ")
PROVINCE = Unit("p", "20", "Tỉnh Lạng Sơn", "province", "root", ["root"])
OTHER_PROVINCE = Unit("q", "21", "Tỉnh khác", "province", "root", ["root"])
DISTRICT = Unit("d", "178", "Thành phố Lạng Sơn", "district", "p", ["root", "p"])
COMMUNE = Unit("c", "178-01", "Phường Chi Lăng", "commune", "d", ["root", "p", "d"])

CENTRAL = Principal("a0", "admin", "root", "central_admin")
PROVINCE_ADMIN = Principal("a1", "qt.tinh", "p", "province_admin")
DISTRICT_ADMIN = Principal("a2", "qt.huyen", "d", "district_admin")
SUPERVISOR = Principal("s", "gsv", "d", "district_supervisor")
UNIT = Principal("u", "dv", "c", "reporting_unit")
UNITS = {"root": ROOT, "p": PROVINCE, "d": DISTRICT, "c": COMMUNE}


@pytest.mark.parametrize(
    ("actor", "unit", "role", "allowed"),
    [
        (CENTRAL, PROVINCE, "province_admin", True),
        (PROVINCE_ADMIN, DISTRICT, "district_admin", True),
        (PROVINCE_ADMIN, PROVINCE, "province_supervisor", True),
        (PROVINCE_ADMIN, COMMUNE, "reporting_unit", True),
        (PROVINCE_ADMIN, OTHER_PROVINCE, "reporting_unit", False),  # outside its subtree
        (PROVINCE_ADMIN, PROVINCE, "province_admin", False),  # not its level's to give
        (PROVINCE_ADMIN, ROOT, "central_admin", False),
        (DISTRICT_ADMIN, COMMUNE, "reporting_unit", True),
        (DISTRICT_ADMIN, PROVINCE, "reporting_unit", False),  # its parent
        (DISTRICT_ADMIN, DISTRICT, "district_admin", False),
        (SUPERVISOR, COMMUNE, "reporting_unit", False),  # supervisors issue nothing
        (UNIT, COMMUNE, "reporting_unit", False),
    ],
)
def test_issuance_matrix(actor, unit, role, allowed):
    actor_unit = UNITS[actor.unit_id]
    if allowed:
        check_issuance(actor, actor_unit, unit, role, "ten.dang.nhap")
    else:
        with pytest.raises(Forbidden):
            check_issuance(actor, actor_unit, unit, role, "ten.dang.nhap")


def test_role_must_fit_the_level_and_usernames_are_plain():
    with pytest.raises(DomainError, match="không dùng cho đơn vị cấp"):
        check_issuance(CENTRAL, ROOT, COMMUNE, "province_supervisor", "abc")
    with pytest.raises(DomainError, match="Tên đăng nhập"):
        check_issuance(CENTRAL, ROOT, COMMUNE, "reporting_unit", "Nguyễn Văn A")


def test_units_hang_only_where_they_fit_and_inside_scope():
    commune = register_unit(DISTRICT_ADMIN, DISTRICT, DISTRICT, "178-02", "Xã B", "commune")
    assert commune.path == ["root", "p", "d"]
    assert commune.events[0].path == ["root", "p", "d"]
    with pytest.raises(DomainError):
        register_unit(CENTRAL, ROOT, COMMUNE, "x", "X", "province")
    with pytest.raises(Forbidden):
        register_unit(DISTRICT_ADMIN, DISTRICT, PROVINCE, "x", "X", "district")
    with pytest.raises(Forbidden):
        register_unit(SUPERVISOR, DISTRICT, DISTRICT, "x", "X", "commune")


def test_password_policy():
    for weak in ("short1!", "alllowercaseletters", "ALLUPPER12345"):
        with pytest.raises(PasswordPolicyViolated):
            check_password_policy(weak)
    check_password_policy("Mat-khau-2026")
    generated = {new_initial_password() for _ in range(50)}
    assert len(generated) == 50
    for password in generated:
        check_password_policy(password)


def test_rename_and_retire_keep_history_and_need_authority():
    from datetime import UTC, datetime

    from chassis.errors import Conflict

    now = datetime(2025, 7, 1, tzinfo=UTC)
    commune = Unit("c", "178-01", "Phường Chi Lăng", "commune", "d", ["root", "p", "d"])
    other = Unit("c2", "178-02", "Phường Hoàng Văn Thụ", "commune", "d", ["root", "p", "d"])
    with pytest.raises(Forbidden):
        commune.rename(UNIT, COMMUNE, "X", "lý do", now)
    commune.rename(DISTRICT_ADMIN, DISTRICT, "Phường Chi Lăng mới", "Nghị quyết", now)
    with pytest.raises(Conflict):
        commune.retire(DISTRICT_ADMIN, DISTRICT, "Sáp nhập", now, other, active_children=1)
    commune.retire(DISTRICT_ADMIN, DISTRICT, "Sáp nhập", now, other, active_children=0)
    assert (commune.status, commune.merged_into) == ("retired", "c2")
    assert [h["action"] for h in commune.history] == ["renamed", "retired"]
    assert [type(e).__name__ for e in commune.events] == ["UnitRenamed", "UnitRetired"]
    with pytest.raises(Conflict):
        commune.rename(DISTRICT_ADMIN, DISTRICT, "Y", "z", now)


def test_plan_move_carries_descendants_and_refuses_cycles_and_bad_levels():
    from services.accounts.domain.model import plan_move

    agency = Unit("g", "178-01-1", "Cơ quan", "agency", "c", ["root", "p", "d", "c"])
    plan = plan_move(PROVINCE_ADMIN, PROVINCE, COMMUNE, PROVINCE, [agency], "Bỏ cấp huyện")
    assert plan == [("c", "p", ["root", "p"]), ("g", "c", ["root", "p", "c"])]
    with pytest.raises(DomainError):
        plan_move(PROVINCE_ADMIN, PROVINCE, DISTRICT, COMMUNE, [COMMUNE], "vòng")
    with pytest.raises(DomainError):
        plan_move(CENTRAL, ROOT, DISTRICT, ROOT, [], "cấp sai")  # a district under the Ministry
    with pytest.raises(Forbidden):
        plan_move(DISTRICT_ADMIN, DISTRICT, COMMUNE, PROVINCE, [], "ngoài phạm vi")


def _account(**kw):
    account = issue_account(
        CENTRAL,
        COMMUNE,
        username="dv.chi-lang",
        role="reporting_unit",
        display_name="Phường Chi Lăng",
        email=None,
        password_hash="h0",
    )
    account.events.clear()
    for key, value in kw.items():
        setattr(account, key, value)
    return account


def test_a_password_change_ends_every_token_issued_before_it():
    now = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
    account = _account()
    account.change_password("h1", now)  # the first: activates the account
    assert [type(e) for e in account.events] == [AccountActivated, PasswordChanged]
    assert account.tokens_valid_after == now and account.password_hash == "h1"
    account.events.clear()
    later = datetime(2026, 5, 5, 8, 0, tzinfo=UTC)
    account.change_password("h2", later)  # any later one ends the other sessions too
    assert account.events == [PasswordChanged(account_id=account.id, unit_id=account.unit_id, changed_at=later)]
    assert account.tokens_valid_after == later


# sign-in throttling (domain/throttle.py) ------------------------------------------------------
T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)


def _seconds(n):
    return timedelta(seconds=n)


def _fail(counter, policy, times, at=T0):
    for _ in range(times):
        counter = counter.attempted(policy, at)
    return counter


def test_five_wrong_guesses_then_delays_that_double_up_to_a_cap_never_a_lock():
    counter = _fail(Counter(), PAIR, 4)
    assert not counter.refuses(PAIR, T0)  # four: no delay at all
    counter = _fail(counter, PAIR, 1)
    assert counter.refuses(PAIR, T0) and counter.refuses(PAIR, T0 + _seconds(0.9))
    assert not counter.refuses(PAIR, T0 + _seconds(1))  # one second after the fifth
    waits = []
    at = T0 + _seconds(1)
    for _ in range(14):
        counter = counter.attempted(PAIR, at)
        waits.append((counter.blocked_until - at).total_seconds())
        at = counter.blocked_until
    assert waits[:6] == [2, 4, 8, 16, 32, 64]
    assert max(waits) == waits[-1] == 15 * 60  # capped: a delay, never a lock
    assert not counter.refuses(PAIR, at)


def test_a_right_password_forgets_the_failures_and_a_long_quiet_spell_does_too():
    counter = _fail(Counter(), PAIR, 7)
    assert counter.refuses(PAIR, T0)
    cleared = counter.succeeded()
    assert cleared.failures == 0 and not cleared.refuses(PAIR, T0) and cleared.seq == counter.seq + 1
    busy_office = _fail(Counter(), ADDRESS, 19)
    assert not busy_office.refuses(ADDRESS, T0)
    later = busy_office.attempted(ADDRESS, T0 + ADDRESS.forget_after)  # an hour without a failure
    assert later.failures == 1


def test_the_account_level_measure_stops_strangers_at_100_but_never_the_holders_own_addresses():
    counter = Counter().succeeded("10.1.1.1")  # the holder signed in from its office before
    counter = _fail(counter, ACCOUNT, 99)
    far_later = T0 + _seconds(10 * 3600)
    assert not counter.refuses(ACCOUNT, far_later, "203.0.113.9")  # the delay is over
    counter = counter.attempted(ACCOUNT, far_later)
    assert counter.failures == 100
    assert counter.refuses(ACCOUNT, far_later + _seconds(365 * 86400), "203.0.113.9")  # NIST: at most 100
    assert not counter.refuses(ACCOUNT, far_later, "10.1.1.1")  # the holder's office stays open
    assert counter.succeeded("10.1.1.1").failures == 0


def test_known_addresses_are_the_last_few_sign_ins():
    counter = Counter()
    for i in range(KNOWN_ADDRESSES + 2):
        counter = counter.succeeded(f"10.0.0.{i}")
    counter = counter.succeeded("10.0.0.3")
    assert counter.known[0] == "10.0.0.3" and len(counter.known) == KNOWN_ADDRESSES
    assert "10.0.0.0" not in counter.known


def test_an_attempt_goes_through_the_address_first_and_a_name_that_does_not_exist_only_there():
    assert [(k.id, k.policy) for k in keys_for(None, "1.2.3.4")] == [("address:1.2.3.4", ADDRESS)]
    keys = keys_for("acc", "1.2.3.4")
    assert [(k.id, k.policy) for k in keys] == [
        ("address:1.2.3.4", ADDRESS),
        ("pair:acc:1.2.3.4", PAIR),
        ("account:acc", ACCOUNT),
    ]
    assert keys[2].address == "1.2.3.4" and {k.account_id for k in keys[1:]} == {"acc"}


def test_an_unlock_forces_a_new_password_and_ends_the_tokens():
    now = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
    account = _account(must_change_password=False)
    account.unlock(CENTRAL, "Mở khóa theo đề nghị của đơn vị", "new-hash", now)
    assert account.password_hash == "new-hash" and account.must_change_password is True
    assert account.tokens_valid_after == now
    assert [type(e) for e in account.events] == [PasswordReset]
    with pytest.raises(DomainError):
        _account().unlock(CENTRAL, " ", "h", now)  # a reason, like any reset
