"""Answers to form 1/HC-TB v1 that pass every rule: tests and the benchmark start from these."""

YEARS = range(2015, 2021)
GIAO = [22, 22, 21, 21, 20, 20]
THUC_HIEN = [21, 21, 20, 20, 20, 19]


def valid_hc_tb(name: str = "Ủy ban nhân dân xã thử nghiệm") -> dict:
    answers = {
        "A1.1": name,
        "A1.2": "Thôn Bản Chu, xã thử nghiệm",
        "A1.3": "Chính quyền địa phương cấp xã",
        "A1.4": True,
        "A1.5": True,
        "A2.1": 25,
        "A2.1.1": 10,
        "A2.2.1": 20,
        "A2.2.2": 3,
        "A2.2.3": 5,
        "A3.1": 1,
        "A3.2": 15,
        "A3.3.1": 1200.5,
        "A3.3.2": 3500,
        "A4.1": "Quản lý nhà nước ở cấp xã",
        "A4.2.1.ma": "8411001",
        "A4.2.1.gia_tri": 1500,
    }
    for year, giao, thuc_hien in zip(YEARS, GIAO, THUC_HIEN, strict=True):
        answers[f"A2.4.giao.{year}"] = giao
        answers[f"A2.4.thuc_hien.{year}"] = thuc_hien
    answers["A2.4.giao.tong"] = sum(GIAO)
    answers["A2.4.thuc_hien.tong"] = sum(THUC_HIEN)
    return answers
