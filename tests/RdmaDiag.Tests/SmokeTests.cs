namespace RdmaDiag.Tests;

public class SmokeTests
{
    [Fact]
    public void Root_Help_ExitsZero()
    {
        var o = new StringWriter();
        Assert.Equal(0, RdmaDiag.Cli.CliRoot.Run(["--help"], o, new StringWriter()));
    }
}

public class CliErrorTests
{
    [Theory]
    [InlineData("nosuch")]
    [InlineData("bench")]
    [InlineData("selftest", "--bogus")]
    public void Cli_BadArguments_OneLineAndExitTwo(params string[] args)
    {
        var error = new StringWriter();
        var code = RdmaDiag.Cli.CliRoot.Run(args, new StringWriter(), error);
        Assert.Equal(2, code);
        var lines = error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("rdmadiag", lines[0]);
    }

    [Fact]
    public void Selftest_OnThisHost_PassesWireChecks()
    {
        var output = new StringWriter();
        Assert.Equal(0, RdmaDiag.Cli.CliRoot.Run(["selftest"], output, new StringWriter()));
        Assert.Contains("selftest: ok", output.ToString());
    }
}
