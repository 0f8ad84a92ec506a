using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using RdmaDiag.Capture;
using RdmaDiag.Diagnostics.Findings;

namespace RdmaDiag.Tests.Capture;

/// <summary>
/// A network namespace behind a veth pair, with nftables dropping one port and rejecting another with
/// ICMP admin-prohibited. Created and removed by each test under a unique name.
/// </summary>
public sealed class NetnsCaptureTests
{
    private static void Run(string file, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)}: {err}");
    }

    [ToolFact("ip", "nft")]
    public async Task FirewalledServer_DropGivesSynUnansweredAndRejectGivesIcmpFinding()
    {
        var id = Random.Shared.Next(0x1000, 0xFFFF).ToString("x");
        var ns = $"rdq-{id}";
        var host = $"rdqh{id}";
        var peer = $"rdqp{id}";
        var net = $"10.{200 + Random.Shared.Next(0, 50)}.{Random.Shared.Next(1, 250)}";
        try
        {
            Run("ip", "netns", "add", ns);
            Run("ip", "link", "add", host, "type", "veth", "peer", "name", peer);
            Run("ip", "link", "set", peer, "netns", ns);
            Run("ip", "addr", "add", $"{net}.1/24", "dev", host);
            Run("ip", "link", "set", host, "up");
            Run("ip", "netns", "exec", ns, "ip", "addr", "add", $"{net}.2/24", "dev", peer);
            Run("ip", "netns", "exec", ns, "ip", "link", "set", peer, "up");
            Run("ip", "netns", "exec", ns, "nft", "add table inet rdq; add chain inet rdq input { type filter hook input priority 0; }; " +
                "add rule inet rdq input tcp dport 7174 drop; add rule inet rdq input tcp dport 7175 reject with icmp type admin-prohibited");

            using var capture = LiveCapture.Open(new LiveCaptureOptions { Interface = host, Filter = CaptureSelector.BuildFilter([7174, 7175]) });
            var findings = new FindingList();
            var tracker = new TcpTracker(findings);
            var traffic = Task.Run(async () =>
            {
                await Task.Delay(200);
                var server = IPAddress.Parse($"{net}.2");
                using (var dropped = new TcpClient())
                {
                    using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(1500));
                    await Assert.ThrowsAnyAsync<Exception>(async () => await dropped.ConnectAsync(server, 7174, cts.Token));
                }
                using (var rejected = new TcpClient())
                {
                    await Assert.ThrowsAsync<SocketException>(async () => await rejected.ConnectAsync(server, 7175));
                }
                await Task.Delay(200);
                capture.Stop();
            });
            var deadline = Stopwatch.StartNew();
            while (capture.Read(out var packet) is var r && r != PacketReadResult.End && deadline.Elapsed < TimeSpan.FromSeconds(20))
            {
                if (r == PacketReadResult.Packet)
                {
                    tracker.Process(packet);
                }
            }
            await traffic;
            tracker.Complete();

            var syn = Assert.Single(findings.Items, f => f.RuleId == "tcp-syn-unanswered");
            Assert.Equal(tracker.Flows.Single(f => f.Server.Endpoint.Port == 7174).Id, syn.Flow);
            var icmp = Assert.Single(findings.Items, f => f.RuleId == "icmp-admin-prohibited");
            Assert.Equal(tracker.Flows.Single(f => f.Server.Endpoint.Port == 7175).Id, icmp.Flow);
            Assert.Contains($"{net}.2:7175", icmp.Message);
        }
        finally
        {
            Process.Start("ip", ["link", "del", host])?.WaitForExit();
            Process.Start("ip", ["netns", "del", ns])?.WaitForExit();
        }
    }
}
