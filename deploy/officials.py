"""Generated officials for the demo and the benchmark: names as Lạng Sơn's are (Kinh, Tày and Nùng
family names), dates of birth, ID numbers, grades and salary steps, as the rows of personnel's import
sheet (the labels of the `official` definition's fields). Nobody here is a real person: the ID
numbers are drawn from a range no one is given (province code 999)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta

from chassis.sheets import write_csv

FAMILY = [
    "Nguyễn",
    "Hoàng",
    "Nông",
    "Lương",
    "Vi",
    "Hà",
    "Lộc",
    "Lành",
    "Hứa",
    "Triệu",
    "Đinh",
    "Lý",
    "Trần",
    "Lê",
    "Phạm",
    "Chu",
    "Mã",
    "Tô",
    "Dương",
    "Bế",
]
MIDDLE_MEN = ["Văn", "Đức", "Minh", "Quang", "Hữu", "Thanh", "Xuân"]
MIDDLE_WOMEN = ["Thị", "Thu", "Thanh", "Hồng", "Ngọc", "Minh"]
GIVEN_MEN = [
    "Hùng",
    "Dũng",
    "Tuấn",
    "Nam",
    "Cường",
    "Thắng",
    "Hải",
    "Long",
    "Sơn",
    "Tiến",
    "Quân",
    "Bình",
    "Khánh",
    "Toàn",
    "Phong",
    "Thành",
    "Trung",
    "Việt",
    "Hòa",
    "Kiên",
]
GIVEN_WOMEN = [
    "Lan",
    "Hoa",
    "Hương",
    "Mai",
    "Hà",
    "Thảo",
    "Linh",
    "Nga",
    "Hạnh",
    "Yến",
    "Trang",
    "Nhung",
    "Phương",
    "Huyền",
    "Loan",
    "Vân",
    "Dung",
    "Thủy",
    "Liên",
    "Hiền",
]
ETHNIC = ["Tày"] * 5 + ["Nùng"] * 4 + ["Kinh"] * 3 + ["Dao", "Hoa", "Sán Chay", "Mông"]
DISTRICTS = [
    "Cao Lộc",
    "Lộc Bình",
    "Văn Lãng",
    "Tràng Định",
    "Bình Gia",
    "Văn Quan",
    "Bắc Sơn",
    "Hữu Lũng",
    "Chi Lăng",
    "Đình Lập",
    "Thành phố Lạng Sơn",
]
EDUCATION = ["Đại học"] * 6 + ["Thạc sĩ"] * 2 + ["Cao đẳng", "Trung cấp", "Tiến sĩ"]
RANKS = [("01.003", 2.34, 0.33)] * 6 + [("01.002", 4.40, 0.34)] * 2 + [("01.004", 1.86, 0.20), ("01.005", 1.50, 0.18)]
POSITIONS = ["TP", "PTP", "PTP", "CVP", "PCVP", "VP-TK", "DC-XD", "TC-KT", "TP-HT", "VH-XH"]
HEADER = [
    "Họ và tên",
    "Ngày sinh",
    "Giới tính",
    "Số định danh cá nhân",
    "Dân tộc",
    "Quê quán",
    "Đối tượng",
    "Ngạch, chức danh nghề nghiệp",
    "Bậc lương",
    "Hệ số lương",
    "Trình độ chuyên môn",
    "Chức vụ, chức danh",
]


def name(rng: random.Random, woman: bool) -> str:
    middle, given = (MIDDLE_WOMEN, GIVEN_WOMEN) if woman else (MIDDLE_MEN, GIVEN_MEN)
    return f"{rng.choice(FAMILY)} {rng.choice(middle)} {rng.choice(given)}"


def official_row(rng: random.Random, serial: int) -> list[str]:
    woman = rng.random() < 0.48
    born = date(1965, 1, 1) + timedelta(days=rng.randrange(0, 35 * 365))
    rank, base, step_size = rng.choice(RANKS)
    step = rng.randrange(1, 9)
    # 001 to 096 are the provinces' codes: 999 is none of them.
    national_id = f"999{'1' if woman else '0'}{born.year % 100:02d}{serial:06d}"
    return [
        name(rng, woman),
        born.strftime("%d/%m/%Y"),
        "Nữ" if woman else "Nam",
        national_id,
        rng.choice(ETHNIC),
        f"{rng.choice(DISTRICTS)}, Lạng Sơn",
        rng.choice(["Công chức"] * 3 + ["Viên chức"] * 2 + ["Cán bộ"]),
        rank,
        str(step),
        f"{base + step_size * (step - 1):.2f}".replace(".", ","),
        rng.choice(EDUCATION),
        rng.choice(POSITIONS) if rng.random() < 0.15 else "",
    ]


def sheets(
    unit_ids: list[str], total: int, seed: int = 2026, first_serial: int = 0
) -> Iterator[tuple[str, bytes, int]]:
    """(unit id, CSV sheet, rows) for each unit, `total` officials spread over the units."""
    rng = random.Random(seed)
    serial = first_serial
    for index, unit_id in enumerate(unit_ids):
        count = total // len(unit_ids) + (1 if index < total % len(unit_ids) else 0)
        rows = []
        for _ in range(count):
            rows.append(official_row(rng, serial))
            serial += 1
        if rows:
            yield unit_id, write_csv(HEADER, rows), len(rows)
