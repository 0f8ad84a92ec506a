using System.Text.RegularExpressions;
using RdmaDiag.Diagnostics.Check;

namespace RdmaDiag.Tests.CheckVerb;

public class CheckOptionsTests
{
    [Theory]
    [InlineData("64,4k,64k,1m", new[] { 64, 4096, 65536, 1 << 20 })]
    [InlineData("1m, 64 ,64", new[] { 64, 1 << 20 })]
    [InlineData("1K", new[] { 1024 })]
    public void ParseSizes_ListWithSuffixes_SortedWithoutRepeats(string text, int[] expected)
    {
        Assert.Equal(expected, CheckOptions.ParseSizes(text));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("2m")]
    [InlineData("1025k")]
    [InlineData("64kk")]
    [InlineData("-5")]
    [InlineData("big")]
    [InlineData(",")]
    public void ParseSizes_OutOfRangeOrGarbage_UserInputNamingTheOption(string text)
    {
        var e = Assert.Throws<UserInputException>(() => CheckOptions.ParseSizes(text));
        Assert.StartsWith("--sizes", e.Message);
    }

    [Theory]
    [InlineData("f6ab0e18", "F6AB0E18")]
    [InlineData("0xF6:AB-0e 18", "F6AB0E18")]
    [InlineData("", "")]
    public void ParseHex_Separators_Accepted(string text, string hex)
    {
        Assert.Equal(hex, Convert.ToHexString(CheckOptions.ParseHex(text)));
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("zz")]
    public void ParseHex_NotHex_UserInput(string text)
    {
        var e = Assert.Throws<UserInputException>(() => CheckOptions.ParseHex(text));
        Assert.Contains("--private-data", e.Message);
    }

    [Fact]
    public void Timeouts_Default_LongestPathFitsTheThirtySecondBudget()
    {
        CheckTimeouts t = CheckTimeouts.Default;

        Assert.Equal(TimeSpan.FromSeconds(30), t.Total);
        Assert.True(t.LongestPath <= t.Total, $"{t.LongestPath}");
    }

    [Fact]
    public void Timeouts_Scale_ScalesEveryStageAndTheTotal()
    {
        CheckTimeouts t = CheckTimeouts.FromCommandLine(0.5, null, null, null);

        Assert.Equal(TimeSpan.FromSeconds(15), t.Total);
        Assert.Equal(TimeSpan.FromSeconds(2.5), t.Connect);
        Assert.Equal(TimeSpan.FromSeconds(2), t.Operation);
    }

    [Fact]
    public void Timeouts_LongerStageOptions_GrowTheTotalToCoverThem()
    {
        CheckTimeouts t = CheckTimeouts.FromCommandLine(null, 60, 60, null);

        Assert.Equal(TimeSpan.FromSeconds(60), t.Connect);
        Assert.Equal(t.LongestPath, t.Total);
        Assert.True(t.Total > TimeSpan.FromSeconds(120));
    }

    [Theory]
    [InlineData(0.0, null, "--timeout-scale")]
    [InlineData(1000.0, null, "--timeout-scale")]
    [InlineData(null, -1.0, "--connect-timeout")]
    [InlineData(null, 4000.0, "--connect-timeout")]
    public void Timeouts_OutOfRange_UserInputNamingTheOption(double? scale, double? connect, string option)
    {
        var e = Assert.Throws<UserInputException>(() => CheckTimeouts.FromCommandLine(scale, connect, null, null));
        Assert.StartsWith(option, e.Message);
    }

    [Fact]
    public void Validate_PrivateDataOverTheLinuxLimit_UserInput()
    {
        var options = new CheckOptions { Host = "192.0.2.1", PrivateData = new byte[253] };

        var e = Assert.Throws<UserInputException>(options.Validate);
        Assert.Contains("253 octets exceeds the limit of 252", e.Message);
    }

    [Fact]
    public void Sizes_SplitAtTheSmallLimit_IntoRdmaOpsAndLargeMessages()
    {
        var options = new CheckOptions { Host = "h", Sizes = [64, 256, 257, 4096] };

        Assert.Equal([64, 256], options.SmallSizes);
        Assert.Equal([257, 4096], options.LargeSizes);
    }
}

public class CheckCausesTests
{
    [Fact]
    public void Causes_IdsAndExitCodes_AreUniqueAndOutsideTheSharedCodes()
    {
        Assert.Equal(CheckCauses.All.Count, CheckCauses.All.Select(c => c.Id).Distinct().Count());
        Assert.Equal(CheckCauses.All.Count, CheckCauses.All.Select(c => c.ExitCode).Distinct().Count());
        Assert.Equal(0, CheckCauses.Ok.ExitCode);
        Assert.All(CheckCauses.All.Where(c => !c.IsOk), c => Assert.InRange(c.ExitCode, 10, 125));
        Assert.All(CheckCauses.All, c => Assert.Matches("^[a-z]+(-[a-z]+)*$", c.Id));
    }

    [Fact]
    public void Causes_IssueList_AllPresent()
    {
        string[] required =
        [
            "ok", "no-route", "tcp-refused", "tcp-filtered", "icmp-unreachable", "not-iwarp", "mpa-rejected", "mpa-revision", "mpa-markers",
            "mpa-crc", "mpa-rtr", "mpa-ird-ord", "terminate", "pmtu-blackhole", "stall", "reset",
        ];
        Assert.All(required, id => Assert.NotNull(CheckCauses.Find(id)));
    }

    [Fact]
    public void CausesDoc_ListsEveryCauseWithItsExitCode()
    {
        string doc = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "causes.md"));

        foreach (CheckCause cause in CheckCauses.All)
        {
            Assert.Matches(new Regex($@"^\| `{Regex.Escape(cause.Id)}` \| {cause.ExitCode} \|", RegexOptions.Multiline), doc);
        }
        int rows = Regex.Matches(doc, @"^\| `[a-z-]+` \| \d+ \|", RegexOptions.Multiline).Count;
        Assert.Equal(CheckCauses.All.Count, rows);
    }

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RdmaDiag.sln")))
            {
                return dir.FullName;
            }
        }
        throw new DirectoryNotFoundException($"no RdmaDiag.sln above {AppContext.BaseDirectory}");
    }
}
