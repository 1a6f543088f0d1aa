// The kept-activation default follows the room left: nothing under a tight cap, half of what lies
// beyond the first GiB otherwise. (tools/bench --memory-cap 400M shows the
// cgroup side: the capped run keeps nothing and stays under the cap.)

import Testing

import Model

@Suite struct MemoryRoomTests {
    @Test func keptActivationsFollowTheRoom() {
        let mib = 1 << 20
        #expect(MemoryRoom.keptActivationDefault(room: nil) == 1024 * mib, "unknown room: 1 GiB")
        #expect(MemoryRoom.keptActivationDefault(room: 400 * mib) == 0, "a 400 MB cap keeps nothing")
        #expect(MemoryRoom.keptActivationDefault(room: 1024 * mib) == 0)
        #expect(MemoryRoom.keptActivationDefault(room: 1536 * mib) == 256 * mib)
        #expect(MemoryRoom.keptActivationDefault(room: 20_000 * mib) == (20_000 - 1024) / 2 * mib)
    }

    @Test func roomIsReadOnLinux() throws {
        let room = try #require(MemoryRoom.available(), "/proc/meminfo has MemAvailable")
        #expect(room > 0)
    }
}
