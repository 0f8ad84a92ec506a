using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using RdmaDiag.Tests.Support;
using RdmaDiag.Cli;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Tests.Endpoint;

public partial class ServeCommandTests
{
    [Theory]
    [InlineData("serve", "needs --soft")]
    [InlineData("serve --soft --port 70000", "--port 70000 is out of range")]
    [InlineData("serve --soft --port -1", "--port -1 is out of range")]
    [InlineData("serve --soft --mpa-rev 0", "--mpa-rev 0 is not supported")]
    [InlineData("serve --soft --mpa-rev 0 --markers", "--mpa-rev 0 is not supported")]
    [InlineData("serve --soft --mpa-rev 1 --p2p read", "--p2p read conflicts with --mpa-rev 1")]
    [InlineData("serve --soft --crc sometimes", "--crc 'sometimes' is not a CRC policy")]
    [InlineData("serve --soft --p2p fast", "--p2p 'fast' is not an RTR type")]
    [InlineData("serve --soft --ird 20000", "--ird 20000 is out of range")]
    [InlineData("serve --soft --pd-limit 300", "--pd-limit 300")]
    [InlineData("serve --soft --listen no.such.host.invalid", "--listen 'no.such.host.invalid'")]
    [InlineData("serve --soft --listen 192.0.2.77 --port 0", "cannot listen there")]
    [InlineData("serve --soft --handshake-timeout 0", "--handshake-timeout 0 is out of range")]
    [InlineData("bench endpoint --rounds 0", "--rounds 0 is out of range")]
    [InlineData("bench endpoint --progress sideways", "--progress 'sideways'")]
    public void Command_BadInput_PrintsOneLineAndExits2(string arguments, string expected)
    {
        var output = new StringWriter();
        var error = new StringWriter();

        int exit = CliRoot.Run(arguments.Split(' '), output, error);

        Assert.Equal(ExitCodes.BadInput, exit);
        string message = error.ToString().TrimEnd();
        Assert.DoesNotContain('\n', message);
        Assert.StartsWith("rdmadiag: ", message);
        Assert.Contains(expected, message);
    }

    [Fact]
    public async Task ServeProcess_ProbedThenSigint_LogsTheConnectionAndExitsZero()
    {
        using ServeProcess serve = await ServeProcess.StartAsync("serve --soft --listen 127.0.0.1 --port 0 --crc preferred");
        Assert.Contains("crc preferred", serve.Banner);

        using (var connection = new IwarpConnection())
        {
            var probe = new ProbeClient(connection, EndpointPair.Wait);
            NegotiatedParameters parameters = await connection.ConnectAsync(serve.EndPoint);
            Assert.True(parameters.Crc);
            probe.Hello();
            Assert.True(probe.Send(64).Verified);
            Assert.True(probe.Write(4096).Verified);
            Assert.True(probe.Read(4096).Verified);
            connection.Close();
        }
        Assert.Contains("established: rev 2/2 enhanced crc on", await serve.NextLogLineAsync());
        Assert.Contains("closed by the peer after 4 probe request(s)", await serve.NextLogLineAsync());

        string rest = await serve.StopAsync(2 /* SIGINT */);
        Assert.Equal(0, serve.ExitCode);
        Assert.Contains("rdmadiag serve: stopped", rest);
    }
}
