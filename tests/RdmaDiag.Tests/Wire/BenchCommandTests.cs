using RdmaDiag.Cli;
using RdmaDiag.Wire;

namespace RdmaDiag.Tests.Wire;

public class BenchCommandTests
{
    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("601")]
    public void BenchCrc_SecondsOutOfRange_ExitsTwoNamingTheOption(string seconds)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = CliRoot.Run(["bench", "crc", "--seconds", seconds], output, error);
        Assert.Equal(ExitCodes.BadInput, exit);
        Assert.StartsWith($"rdmadiag: --seconds {seconds}: expected", error.ToString());
    }

    [Fact]
    public void Print_Rows_TableHasEverySizeAndBothImplementations()
    {
        var rows = Crc32cBenchmark.Run(TimeSpan.FromMilliseconds(30), [64, 1024, 65536]);
        var output = new StringWriter();
        Cli.Commands.BenchCommand.CrcCommand.Print(output, rows);
        string text = output.ToString();
        Assert.Contains("fast", text);
        Assert.Contains("naive", text);
        foreach (string size in (string[])["64 B", "1 KiB", "64 KiB"])
        {
            Assert.Contains($"\n{size}", text);
        }
        Assert.All(rows, r => Assert.Equal(Crc32cBenchmark.MinRounds, r.Fast.RoundGBps.Count));
    }
}
