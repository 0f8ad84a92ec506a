using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using RdmaDiag.Native;

namespace RdmaDiag.Tests.Native;

/// <summary>
/// The layout proof: every interop struct marked [CType] and every field it declares is compared with
/// offsetof/sizeof from a C program compiled against the installed rdma-core headers, and so are the
/// enum values the managed API passes through.
/// </summary>
public class StructLayoutTests
{
    private sealed record Member(string Key, string CType, string? Designator, long Offset, long Size);

    private static IReadOnlyList<Type> MirrorTypes() =>
        typeof(Interop).Assembly.GetTypes()
            .Where(t => t.IsValueType && t.GetCustomAttribute<CTypeAttribute>() is not null)
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .ToList();

    // C constant → the managed value sent to or read from the library under that meaning.
    private static readonly (string CName, long Value)[] Constants =
    [
        ("IBV_NODE_RNIC", (long)NodeType.Rnic),
        ("IBV_NODE_CA", (long)NodeType.Ca),
        ("IBV_TRANSPORT_IB", (long)TransportType.InfiniBand),
        ("IBV_TRANSPORT_IWARP", (long)TransportType.Iwarp),
        ("IBV_PORT_ACTIVE", (long)PortState.Active),
        ("IBV_PORT_DOWN", (long)PortState.Down),
        ("IBV_LINK_LAYER_ETHERNET", (long)LinkLayer.Ethernet),
        ("IBV_LINK_LAYER_INFINIBAND", (long)LinkLayer.InfiniBand),
        ("IBV_ACCESS_LOCAL_WRITE", (long)AccessFlags.LocalWrite),
        ("IBV_ACCESS_REMOTE_WRITE", (long)AccessFlags.RemoteWrite),
        ("IBV_ACCESS_REMOTE_READ", (long)AccessFlags.RemoteRead),
        ("IBV_ACCESS_REMOTE_ATOMIC", (long)AccessFlags.RemoteAtomic),
        ("IBV_ACCESS_MW_BIND", (long)AccessFlags.MwBind),
        ("IBV_ACCESS_ZERO_BASED", (long)AccessFlags.ZeroBased),
        ("IBV_ACCESS_ON_DEMAND", (long)AccessFlags.OnDemand),
        ("IBV_QPT_RC", (long)QpType.Rc),
        ("IBV_QPT_UC", (long)QpType.Uc),
        ("IBV_QPT_UD", (long)QpType.Ud),
        ("IBV_QPS_RESET", (long)QpState.Reset),
        ("IBV_QPS_INIT", (long)QpState.Init),
        ("IBV_QPS_RTR", (long)QpState.Rtr),
        ("IBV_QPS_RTS", (long)QpState.Rts),
        ("IBV_QPS_ERR", (long)QpState.Error),
        ("IBV_QP_STATE", (long)QpAttrMask.State),
        ("IBV_QP_ACCESS_FLAGS", (long)QpAttrMask.AccessFlags),
        ("IBV_QP_PKEY_INDEX", (long)QpAttrMask.PkeyIndex),
        ("IBV_QP_PORT", (long)QpAttrMask.Port),
        ("IBV_QP_AV", (long)QpAttrMask.Av),
        ("IBV_QP_PATH_MTU", (long)QpAttrMask.PathMtu),
        ("IBV_QP_TIMEOUT", (long)QpAttrMask.Timeout),
        ("IBV_QP_RETRY_CNT", (long)QpAttrMask.RetryCnt),
        ("IBV_QP_RNR_RETRY", (long)QpAttrMask.RnrRetry),
        ("IBV_QP_RQ_PSN", (long)QpAttrMask.RqPsn),
        ("IBV_QP_MAX_QP_RD_ATOMIC", (long)QpAttrMask.MaxQpRdAtomic),
        ("IBV_QP_MIN_RNR_TIMER", (long)QpAttrMask.MinRnrTimer),
        ("IBV_QP_SQ_PSN", (long)QpAttrMask.SqPsn),
        ("IBV_QP_MAX_DEST_RD_ATOMIC", (long)QpAttrMask.MaxDestRdAtomic),
        ("IBV_QP_CAP", (long)QpAttrMask.Cap),
        ("IBV_QP_DEST_QPN", (long)QpAttrMask.DestQpn),
        ("IBV_WR_RDMA_WRITE", (long)SendOpcode.RdmaWrite),
        ("IBV_WR_RDMA_WRITE_WITH_IMM", (long)SendOpcode.RdmaWriteWithImm),
        ("IBV_WR_SEND", (long)SendOpcode.Send),
        ("IBV_WR_SEND_WITH_IMM", (long)SendOpcode.SendWithImm),
        ("IBV_WR_RDMA_READ", (long)SendOpcode.RdmaRead),
        ("IBV_SEND_FENCE", (long)SendFlags.Fence),
        ("IBV_SEND_SIGNALED", (long)SendFlags.Signaled),
        ("IBV_SEND_SOLICITED", (long)SendFlags.Solicited),
        ("IBV_SEND_INLINE", (long)SendFlags.Inline),
        ("IBV_WC_SUCCESS", (long)WcStatus.Success),
        ("IBV_WC_WR_FLUSH_ERR", (long)WcStatus.WrFlushErr),
        ("IBV_WC_REM_ACCESS_ERR", (long)WcStatus.RemAccessErr),
        ("IBV_WC_RETRY_EXC_ERR", (long)WcStatus.RetryExcErr),
        ("IBV_WC_GENERAL_ERR", (long)WcStatus.GeneralErr),
        ("IBV_WC_SEND", (long)WcOpcode.Send),
        ("IBV_WC_RDMA_WRITE", (long)WcOpcode.RdmaWrite),
        ("IBV_WC_RDMA_READ", (long)WcOpcode.RdmaRead),
        ("IBV_WC_RECV", (long)WcOpcode.Recv),
        ("IBV_WC_RECV_RDMA_WITH_IMM", (long)WcOpcode.RecvRdmaWithImm),
        ("IBV_WC_WITH_IMM", (long)WcFlags.WithImm),
        ("IBV_WC_WITH_INV", (long)WcFlags.WithInv),
        ("RDMA_PS_TCP", (long)RdmaPortSpace.Tcp),
        ("RDMA_PS_UDP", (long)RdmaPortSpace.Udp),
        ("RDMA_CM_EVENT_ADDR_RESOLVED", (long)RdmaCmEventType.AddrResolved),
        ("RDMA_CM_EVENT_ROUTE_RESOLVED", (long)RdmaCmEventType.RouteResolved),
        ("RDMA_CM_EVENT_CONNECT_REQUEST", (long)RdmaCmEventType.ConnectRequest),
        ("RDMA_CM_EVENT_REJECTED", (long)RdmaCmEventType.Rejected),
        ("RDMA_CM_EVENT_ESTABLISHED", (long)RdmaCmEventType.Established),
        ("RDMA_CM_EVENT_DISCONNECTED", (long)RdmaCmEventType.Disconnected),
        ("RDMA_CM_EVENT_TIMEWAIT_EXIT", (long)RdmaCmEventType.TimewaitExit),
        ("AF_INET", SockAddr.AF_INET),
        ("AF_INET6", SockAddr.AF_INET6),
        ("POLLIN", Interop.Libc.POLLIN),
        ("(long long)sizeof(struct sockaddr_storage)", SockAddr.StorageSize),
        ("(long long)(uintptr_t)__VERBS_ABI_IS_EXTENDED", unchecked((long)Interop.IbVerbs.VerbsAbiIsExtended)),
    ];

    [Fact]
    public void MirrorStructs_Declared_CoverEveryBindingStruct()
    {
        var names = MirrorTypes().Select(t => t.Name).ToHashSet();
        string[] expected =
        [
            "ibv_device", "ibv_context", "verbs_context", "ibv_device_attr", "ibv_port_attr", "ibv_gid", "ibv_pd",
            "ibv_mr", "ibv_comp_channel", "ibv_cq", "ibv_qp", "ibv_qp_init_attr", "ibv_qp_attr", "ibv_sge",
            "ibv_send_wr", "ibv_recv_wr", "ibv_wc", "rdma_event_channel", "rdma_cm_id", "rdma_conn_param",
            "rdma_cm_event", "sockaddr_in", "sockaddr_in6", "pollfd",
        ];
        Assert.Empty(expected.Except(names));
    }

    [CHeadersFact]
    public void MirrorStructs_ComparedWithRealHeaders_MatchOffsetsAndSizes()
    {
        var members = CollectMembers();
        var output = CompileAndRun(GenerateProgram(members));
        var actual = output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .ToDictionary(p => p[0], p => p);

        var mismatches = new List<string>();
        foreach (var m in members)
        {
            if (!actual.TryGetValue(m.Key, out var c))
            {
                mismatches.Add($"{m.Key}: missing from the C output");
                continue;
            }
            if (m.Designator is null)
            {
                var size = long.Parse(c[1]);
                if (size != m.Size)
                {
                    mismatches.Add($"sizeof({m.CType}): C {size}, C# {m.Size}");
                }
                continue;
            }
            var (offset, fieldSize) = (long.Parse(c[1]), long.Parse(c[2]));
            if (offset != m.Offset || fieldSize != m.Size)
            {
                mismatches.Add($"{m.CType}.{m.Designator}: C offset {offset} size {fieldSize}, C# offset {m.Offset} size {m.Size}");
            }
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
        Assert.True(members.Count > 150, $"only {members.Count} members were compared");
    }

    [CHeadersFact]
    public void ManagedEnums_ComparedWithHeaderConstants_Match()
    {
        var program = new StringBuilder();
        program.AppendLine("#include <stdio.h>\n#include <stdint.h>\n#include <poll.h>\n#include <sys/socket.h>\n#include <infiniband/verbs.h>\n#include <rdma/rdma_cma.h>");
        program.AppendLine("int main(void) {");
        foreach (var (name, _) in Constants)
        {
            program.AppendLine($"    printf(\"%s\\t%lld\\n\", \"{Escape(name)}\", (long long)({name}));");
        }
        program.AppendLine("    return 0;\n}");
        var actual = CompileAndRun(program.ToString()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('\t')).ToDictionary(p => p[0], p => long.Parse(p[1]));
        var mismatches = Constants.Where(c => actual[c.CName] != c.Value)
            .Select(c => $"{c.CName}: C {actual[c.CName]}, C# {c.Value}").ToList();
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    private static List<Member> CollectMembers()
    {
        var members = new List<Member>();
        foreach (var type in MirrorTypes())
        {
            var cType = type.GetCustomAttribute<CTypeAttribute>()!.CType;
            members.Add(new Member(cType, cType, null, 0, SizeOf(type)));
            foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            {
                var designator = field.GetCustomAttribute<CFieldAttribute>()?.Designator ?? field.Name;
                var offset = field.GetCustomAttribute<FieldOffsetAttribute>()?.Value
                             ?? throw new InvalidOperationException($"{type.Name}.{field.Name} has no [FieldOffset]");
                members.Add(new Member($"{cType}.{designator}", cType, designator, offset, FieldSize(field)));
            }
        }
        return members;
    }

    private static long FieldSize(FieldInfo field)
    {
        var type = field.FieldType;
        if (field.GetCustomAttribute<FixedBufferAttribute>() is { } fixedBuffer)
        {
            return fixedBuffer.Length * SizeOf(fixedBuffer.ElementType);
        }
        if (type.IsPointer || type.IsFunctionPointer || type.IsUnmanagedFunctionPointer)
        {
            return IntPtr.Size;
        }
        return SizeOf(type);
    }

    private static long SizeOf(Type type) =>
        (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!;

    private static string GenerateProgram(IReadOnlyList<Member> members)
    {
        var headers = MirrorTypes().Select(t => t.GetCustomAttribute<CTypeAttribute>()!.Header).Distinct().Order();
        var c = new StringBuilder();
        c.AppendLine("#include <stdio.h>\n#include <stddef.h>");
        foreach (var header in headers)
        {
            c.AppendLine($"#include <{header}>");
        }
        c.AppendLine("int main(void) {");
        foreach (var m in members)
        {
            if (m.Designator is null)
            {
                c.AppendLine($"    printf(\"%s\\t%zu\\n\", \"{m.Key}\", sizeof({m.CType}));");
            }
            else
            {
                c.AppendLine($"    printf(\"%s\\t%zu\\t%zu\\n\", \"{m.Key}\", offsetof({m.CType}, {m.Designator}), sizeof((({m.CType} *)0)->{m.Designator}));");
            }
        }
        c.AppendLine("    return 0;\n}");
        return c.ToString();
    }

    private static string Escape(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"");

    private static string CompileAndRun(string program)
    {
        var dir = Directory.CreateTempSubdirectory("rdmadiag-layout-");
        try
        {
            var source = Path.Combine(dir.FullName, "layout.c");
            var exe = Path.Combine(dir.FullName, "layout");
            File.WriteAllText(source, program);
            var (ccCode, _, ccErr) = Run(NativeToolchain.Gcc!, ["-std=gnu11", "-Wall", "-o", exe, source]);
            Assert.True(ccCode == 0, $"the generated layout program did not compile:\n{ccErr}\n--- program ---\n{program}");
            var (code, stdout, stderr) = Run(exe, []);
            Assert.True(code == 0, $"layout program exited {code}: {stderr}");
            return stdout;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static (int Code, string Stdout, string Stderr) Run(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
