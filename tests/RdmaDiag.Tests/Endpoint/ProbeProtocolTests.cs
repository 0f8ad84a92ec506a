using System.Net;
using RdmaDiag.Endpoint;

namespace RdmaDiag.Tests.Endpoint;

public class ProbeProtocolTests
{
    private static readonly TimeSpan Wait = EndpointPair.Wait;

    [Theory]
    [InlineData(ProgressMode.Background)]
    [InlineData(ProgressMode.Inline)]
    public async Task ProbeClient_AgainstSoftServer_VerifiesSendWriteReadAt64BAnd1MiB(ProgressMode mode)
    {
        var log = new StringWriter();
        using var server = SoftServer.Start(new IPEndPoint(IPAddress.Loopback, 0), IwarpSetupOptions.Default, log);
        using var stop = new CancellationTokenSource();
        Task serving = server.RunAsync(stop.Token);
        using (var connection = new IwarpConnection(new IwarpConnectionOptions { Progress = mode }))
        {
            var probe = new ProbeClient(connection, Wait);
            await connection.ConnectAsync(server.LocalEndPoint);
            ProbeAdvert advert = probe.Hello();
            Assert.Equal(ProbeServer.DefaultLength, advert.Length);

            var results = new List<ProbeResult>();
            foreach (int size in new[] { 64, 1 << 20 })
            {
                results.Add(probe.Send(size));
                results.Add(probe.Write(size));
                results.Add(probe.Read(size));
            }

            Assert.All(results, r => Assert.True(r.Verified, $"{r.Operation} {r.Size}: {r.Detail}"));
            connection.Close();
        }
        await WaitForLog(log, "closed by the peer after 7 probe request(s)");
        stop.Cancel();
        await serving.WaitAsync(Wait);
        Assert.Contains("established: rev 2/2 enhanced crc off", log.ToString());
    }

    internal static async Task WaitForLog(StringWriter log, string text)
    {
        for (int i = 0; i < 100 && !log.ToString().Contains(text); i++)
        {
            await Task.Delay(50);
        }
        Assert.True(log.ToString().Contains(text), $"log lacks \"{text}\":\n{log}");
    }
}
