defmodule CovenantProcessor.DB do
  @moduledoc """
  One PostgreSQL connection through Debian's erlang-p1-pgsql (pure Erlang; it speaks
  SCRAM-SHA-256 via its pgsql_sasl module, which needs the p1_stringprep NIF loaded,
  i.e. the :stringprep application started).

  Only the simple-query protocol (`pgsql:squery`) is used: p1_pgsql's extended-query
  path (`pquery`) sends binaries in binary format and blocks on statements without a
  result set or on errors. Values are therefore inlined as literals by `lit/1`
  (standard_conforming_strings is forced on, quotes doubled, NULs dropped, UTF-8
  enforced). Connects lazily, reconnects after failures, applies reference/schema.sql
  on every new connection (idempotent).
  """
  use GenServer
  alias CovenantProcessor.Log

  @schema File.read!(Path.expand("../../schema.sql", __DIR__))
  @external_resource Path.expand("../../schema.sql", __DIR__)

  def start_link(url), do: GenServer.start_link(__MODULE__, url, name: __MODULE__)

  @doc "Runs SQL (one or more statements). {:ok, results} | {:error, message}."
  def query(sql, timeout \\ 15_000) do
    GenServer.call(__MODULE__, {:squery, sql, timeout}, timeout + 7_000)
  catch
    :exit, {:timeout, _} -> {:error, "database call timed out"}
    :exit, _ -> {:error, "database unavailable"}
  end

  @doc "Rows of the first SELECT-like result."
  def rows(sql, timeout \\ 15_000) do
    case query(sql, timeout) do
      {:ok, results} ->
        case Enum.find(results, &match?({_, _, _}, &1)) do
          {_cmd, _cols, rows} -> {:ok, rows}
          nil -> {:ok, []}
        end

      err ->
        err
    end
  end

  @doc "Runs the statements in one transaction (BEGIN ... COMMIT in one simple query)."
  def transaction(statements, timeout \\ 15_000) do
    query(Enum.join(["BEGIN" | statements] ++ ["COMMIT"], ";\n"), timeout)
  end

  # -- literals ---------------------------------------------------------------

  def lit(nil), do: "NULL"
  def lit(true), do: "TRUE"
  def lit(false), do: "FALSE"
  def lit(i) when is_integer(i), do: Integer.to_string(i)
  def lit(f) when is_float(f), do: :erlang.float_to_binary(f, [:short])

  def lit(s) when is_binary(s) do
    s = s |> utf8() |> String.replace(<<0>>, "")
    "'" <> String.replace(s, "'", "''") <> "'"
  end

  def utf8(s) do
    if String.valid?(s), do: s, else: :unicode.characters_to_binary(s, :latin1, :utf8)
  end

  # -- server -------------------------------------------------------------------

  @impl true
  def init(url) do
    Process.flag(:trap_exit, true)
    send(self(), :warmup)
    {:ok, %{opts: parse_url(url), conn: nil, ref: nil}}
  end

  @impl true
  def handle_info(:warmup, state) do
    case ensure_conn(state) do
      {:ok, state} -> {:noreply, state}
      {:error, msg, state} ->
        Log.warn("database not reachable at start; will retry on use", %{error: msg})
        {:noreply, state}
    end
  end

  def handle_info({:DOWN, ref, :process, _pid, reason}, %{ref: ref} = state) do
    Log.warn("database connection closed", %{reason: short(reason)})
    {:noreply, %{state | conn: nil, ref: nil}}
  end

  def handle_info(_msg, state), do: {:noreply, state}

  @impl true
  def handle_call({:squery, sql, timeout}, _from, state) do
    case ensure_conn(state) do
      {:ok, state} -> run(sql, timeout, state)
      {:error, msg, state} -> {:reply, {:error, msg}, state}
    end
  end

  @impl true
  def terminate(_reason, %{conn: conn}) when is_pid(conn) do
    catch_all(fn -> :pgsql.terminate(conn) end)
    :ok
  end

  def terminate(_reason, _state), do: :ok

  defp run(sql, timeout, %{conn: conn} = state) do
    try do
      case :pgsql.squery(conn, sql, timeout) do
        {:ok, results} ->
          case Enum.find(results, &match?({:error, _}, &1)) do
            nil -> {:reply, {:ok, results}, state}
            {:error, desc} -> {:reply, {:error, pg_message(desc)}, state}
          end

        other ->
          {:reply, {:error, "unexpected driver answer: " <> short(other)}, drop(state)}
      end
    catch
      :exit, {:timeout, _} -> {:reply, {:error, "database query timed out"}, drop(state)}
      kind, reason -> {:reply, {:error, "database error: " <> short({kind, reason})}, drop(state)}
    end
  end

  defp drop(%{conn: conn, ref: ref} = state) do
    if ref, do: Process.demonitor(ref, [:flush])
    if is_pid(conn), do: Process.exit(conn, :kill)
    %{state | conn: nil, ref: nil}
  end

  defp ensure_conn(%{conn: conn} = state) when is_pid(conn), do: {:ok, state}
  defp ensure_conn(%{opts: {:error, msg}} = state), do: {:error, msg, state}

  defp ensure_conn(%{opts: opts} = state) do
    result =
      try do
        :pgsql.connect(opts)
      catch
        kind, reason -> {:error, {kind, reason}}
      end

    case result do
      {:ok, conn} ->
        ref = Process.monitor(conn)
        state = %{state | conn: conn, ref: ref}

        case setup(conn) do
          :ok ->
            {:ok, state}

          {:error, msg} ->
            {:error, "schema setup failed: " <> msg, drop(state)}
        end

      {:error, reason} ->
        {:error, "cannot connect to database: " <> connect_error(reason), state}
    end
  end

  defp setup(conn) do
    init = "SET standard_conforming_strings = on; SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC'"

    with :ok <- simple(conn, init) do
      case simple(conn, @schema) do
        :ok ->
          :ok

        {:error, _} ->
          # Several services apply the schema at the same time; a concurrent
          # CREATE ... IF NOT EXISTS may collide once. Retry after a moment.
          Process.sleep(300)
          simple(conn, @schema)
      end
    end
  end

  defp simple(conn, sql) do
    case :pgsql.squery(conn, sql, 15_000) do
      {:ok, results} ->
        case Enum.find(results, &match?({:error, _}, &1)) do
          nil -> :ok
          {:error, desc} -> {:error, pg_message(desc)}
        end

      other ->
        {:error, short(other)}
    end
  catch
    kind, reason -> {:error, short({kind, reason})}
  end

  defp pg_message(desc) when is_list(desc) do
    msg = desc |> List.keyfind(:message, 0, {nil, nil}) |> elem(1)
    code = desc |> List.keyfind(:code, 0, {nil, nil}) |> elem(1)

    case msg do
      nil -> short(desc)
      m -> if code, do: "#{m} (SQLSTATE #{code})", else: to_string(m)
    end
  end

  defp pg_message(other), do: short(other)

  # Never echo the options (they hold the password).
  defp connect_error({:init, {:error, reason}}), do: "connect: " <> short(reason)
  defp connect_error({:authentication, {:unknown, m}}), do: "unsupported auth method #{m}"
  defp connect_error({:authentication, desc}), do: "authentication failed: " <> pg_message(desc)
  defp connect_error({:error_response, desc}), do: pg_message(desc)
  defp connect_error(other), do: short(other)

  defp short(term), do: inspect(term, limit: 8, printable_limit: 300)

  defp catch_all(fun) do
    fun.()
  catch
    _, _ -> :ok
  end

  @doc "postgresql://user:password@host:port/db -> p1_pgsql options, or {:error, msg}."
  def parse_url(nil), do: {:error, "DATABASE_URL is not set"}
  def parse_url(""), do: {:error, "DATABASE_URL is not set"}

  def parse_url(url) do
    uri = URI.parse(url)

    if uri.scheme in ["postgres", "postgresql"] and is_binary(uri.host) and uri.host != "" do
      {user, password} =
        case String.split(uri.userinfo || "", ":", parts: 2) do
          [u, p] -> {URI.decode(u), URI.decode(p) |> tap(&Log.add_secret/1)}
          [u] -> {URI.decode(u), ""}
        end

      db =
        case uri.path do
          nil -> user
          "/" -> user
          p -> p |> String.trim_leading("/") |> URI.decode()
        end

      [
        host: String.to_charlist(uri.host),
        port: uri.port || 5432,
        user: user,
        password: password,
        database: db,
        as_binary: true,
        connect_timeout: 5_000
      ]
    else
      {:error, "DATABASE_URL is not a postgresql:// URL"}
    end
  rescue
    _ -> {:error, "DATABASE_URL cannot be parsed"}
  end
end
