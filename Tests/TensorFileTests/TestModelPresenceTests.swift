// Where tools/test requires the converted demo model (LEANDPO_REQUIRE_TEST_MODEL=1), its absence fails
// here, so the tests that need it cannot all skip quietly in CI.

import TestSupport
import Testing

@Suite struct TestModelPresenceTests {
    @Test(.enabled(if: TestPaths.testModelRequired))
    func theRequiredTestModelIsPresent() {
        #expect(TestPaths.smolLM2 != nil, "LEANDPO_REQUIRE_TEST_MODEL=1 but the SmolLM2 MTF is missing (LEANDPO_MODEL or tools/fetch-model)")
    }
}
