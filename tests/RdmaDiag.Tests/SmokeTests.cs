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
