from loadtest.drivers.chat_room import ChatRoom


def test_lost_counts_each_member_that_missed_a_message():
    room = ChatRoom("r")
    for _ in range(3):
        room.join()
    room.record_sent("m0")
    room.record_sent("m1")
    for _ in range(3):
        room.record_delivery("m0")
    room.record_delivery("m1")
    assert room.expected() == 6
    assert room.lost() == 2


def test_warm_up_messages_are_forgotten_at_reset():
    room = ChatRoom("r")
    assert room.join() == 0  # the first member is the sender
    room.record_sent("m0")
    room.reset()
    room.record_delivery("m0")  # a late warm-up message: neither delivered nor lost
    assert room.lost() == 0 and room.expected() == 0


def test_full_is_the_runner_target():
    room = ChatRoom("r")
    room.join()
    assert not room.is_full(2)
    room.join()
    assert room.is_full(2)
