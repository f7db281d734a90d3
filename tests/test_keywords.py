from dialin_core.naming.keywords import keyword_names


def test_names_come_from_words_distinctive_of_each_cluster():
    texts = ["my card was stolen", "stolen card please block", "what is my balance", "check balance now"]
    names = keyword_names(texts, [0, 0, 1, 1])
    assert "stolen" in names[0] and "card" in names[0]
    assert "balance" in names[1]


def test_names_are_unique_and_fall_back_when_only_stop_words_remain():
    names = keyword_names(["is it", "it is", "and the", "the and"], [0, 0, 1, 1])
    assert names == {0: "cluster-0", 1: "cluster-1"}
    same = keyword_names(["card card", "card card"], [0, 1])
    assert len(set(same.values())) == 2
