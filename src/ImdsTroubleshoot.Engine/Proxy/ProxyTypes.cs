namespace ImdsTroubleshoot.Engine.Proxy;

/// <summary>
/// HTTP client families that take proxy settings from the environment, each in its own way (which variable wins,
/// how NO_PROXY entries match). The differences decide whether IMDS traffic goes through a proxy.
/// </summary>
public enum ProxyClientFamily
{
    /// <summary>curl and libcurl (yum/dnf, git over HTTP): lowercase <c>http_proxy</c> only, CIDR, blanks as separators.</summary>
    Curl,

    /// <summary>Python requests (pip, many scripts): lowercase first, IPv4 CIDR, bare IPv6.</summary>
    PythonRequests,

    /// <summary>Python urllib and botocore (AWS CLI v1 and v2, boto3): lowercase first, string suffixes, bracketed IPv6, no CIDR.</summary>
    Botocore,

    /// <summary>Go net/http (AWS SDK for Go, amazon-ssm-agent, ECS and CloudWatch agents, dockerd, containerd, kubelet): UPPERCASE first, CIDR, bare IPv6.</summary>
    Go,

    /// <summary>.NET HttpClient (AWS SDK for .NET, PowerShell's web cmdlets): lowercase first, exact or leading-dot entries, bracketed IPv6.</summary>
    DotNet,
}

/// <summary>How one client family would send a request to an IMDS address.</summary>
public enum ProxyOutcome
{
    /// <summary>No proxy variable applies to http:// for this family: direct.</summary>
    NoProxy,

    /// <summary>A proxy is set but NO_PROXY exempts the address: direct.</summary>
    Exempt,

    /// <summary>The request goes through the proxy.</summary>
    Proxied,

    /// <summary>The request fails before it is sent (Go refuses HTTP_PROXY when REQUEST_METHOD is set).</summary>
    Refused,
}

/// <summary>Where a proxy setting was found.</summary>
public enum ProxySourceKind
{
    /// <summary>The environment of the current process (the PowerShell session).</summary>
    ProcessEnvironment,

    /// <summary><c>/etc/environment</c>, read by pam_env for login sessions (ssh, console, su, cron).</summary>
    PamEnvironment,

    /// <summary>A shell startup file: <c>/etc/profile</c>, <c>/etc/profile.d/*.sh</c>, <c>~/.bashrc</c>, ...</summary>
    ShellProfile,

    /// <summary><c>DefaultEnvironment=</c> in <c>/etc/systemd/system.conf</c> or <c>system.conf.d</c>: every service.</summary>
    SystemdManager,

    /// <summary><c>Environment=</c> in a systemd unit file or drop-in.</summary>
    SystemdUnit,

    /// <summary>A file named by a unit's <c>EnvironmentFile=</c>.</summary>
    SystemdEnvironmentFile,

    /// <summary><c>/etc/docker/daemon.json</c> <c>"proxies"</c>: dockerd itself.</summary>
    DockerDaemon,

    /// <summary><c>~/.docker/config.json</c> <c>"proxies"</c>: injected by the docker CLI into new containers.</summary>
    DockerClient,

    /// <summary><c>/proc/PID/environ</c>: what a running process started with.</summary>
    RunningProcess,
}

/// <summary>Where a repair applies.</summary>
public enum ProxyScope
{
    /// <summary>The current process (PowerShell session) environment.</summary>
    Session,

    /// <summary>The user's own files: shell profiles, <c>~/.docker/config.json</c>.</summary>
    User,

    /// <summary>System files: <c>/etc/environment</c>, <c>/etc/profile.d</c>, systemd, <c>/etc/docker/daemon.json</c>.</summary>
    Machine,

    /// <summary>A running process; it cannot be changed, only restarted after its configuration is fixed.</summary>
    Process,
}

/// <summary>The syntax of a file that holds proxy settings.</summary>
public enum ProxyFileFormat
{
    /// <summary>Not a file (process environment).</summary>
    None,

    /// <summary>pam_env <c>KEY=VALUE</c> (<c>/etc/environment</c>).</summary>
    PamEnvironment,

    /// <summary>POSIX shell / bash.</summary>
    Shell,

    /// <summary>systemd unit or drop-in: <c>Environment=</c> lines.</summary>
    SystemdUnit,

    /// <summary>systemd <c>system.conf</c>: <c>DefaultEnvironment=</c>.</summary>
    SystemdManager,

    /// <summary>systemd <c>EnvironmentFile=</c>: <c>KEY=VALUE</c> lines.</summary>
    EnvironmentFile,

    /// <summary>Docker daemon JSON (<c>"proxies": {"http-proxy", "no-proxy"}</c>).</summary>
    DockerDaemonJson,

    /// <summary>Docker client JSON (<c>"proxies": {"default": {"httpProxy", "noProxy"}}</c>).</summary>
    DockerClientJson,

    /// <summary><c>/proc/PID/environ</c> (read only).</summary>
    ProcEnviron,
}
