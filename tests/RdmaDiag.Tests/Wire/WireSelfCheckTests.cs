using RdmaDiag.Wire;

namespace RdmaDiag.Tests.Wire;

public class WireSelfCheckTests
{
    [Fact]
    public void Run_OnThisMachine_EveryCheckPassesWithDetail()
    {
        var results = WireSelfCheck.Run();
        Assert.True(results.Count >= WireVectors.Crc.Count + WireVectors.FpduMessages.Count + 6);
        Assert.All(results, r =>
        {
            Assert.True(r.Passed, $"{r.Name}: {r.Detail}");
            Assert.False(string.IsNullOrWhiteSpace(r.Detail));
        });
        Assert.Equal(results.Count, results.Select(r => r.Name).Distinct().Count());
    }
}
