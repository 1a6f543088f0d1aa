// The kept-activation default follows the room left: all 384 MiB on a roomy machine, nothing under a
// tight cap, half of what lies beyond the first GiB in between. (tools/bench --memory-cap 400M shows the
// cgroup side: the capped run keeps nothing and stays under the cap.)

import Testing

import Model

@Suite struct MemoryRoomTests {
    @Test func keptActivationsFollowTheRoom() {
        let mib = 1 << 20
        #expect(MemoryRoom.keptActivationDefault(room: nil) == 384 * mib, "unknown room: the speed default")
        #expect(MemoryRoom.keptActivationDefault(room: 400 * mib) == 0, "a 400 MB cap keeps nothing")
        #expect(MemoryRoom.keptActivationDefault(room: 1024 * mib) == 0)
        #expect(MemoryRoom.keptActivationDefault(room: 1536 * mib) == 256 * mib)
        #expect(MemoryRoom.keptActivationDefault(room: 20_000 * mib) == 384 * mib)
    }

    @Test func roomIsReadOnLinux() throws {
        let room = try #require(MemoryRoom.available(), "/proc/meminfo has MemAvailable")
        #expect(room > 0)
    }
}
