"""The pytest plugin, exercised through real pytest runs of small test projects."""

from __future__ import annotations

import pytest

import beta_middleware.pytest_plugin

pytest_plugins = ["pytester"]

STRICT = ("-p", "no:cacheprovider", "-W", "error", "--strict-markers")


@pytest.fixture(autouse=True)
def _ini(pytester: pytest.Pytester) -> None:
    # pytest-asyncio warns (an error under -W error) when this is unset.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*STRICT, *args)


def test_plugin_is_loaded_through_its_entry_point(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure()
    assert config.pluginmanager.get_plugin("beta_middleware") is beta_middleware.pytest_plugin
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.betas(*names, replace=False): run the test body inside *"])


def test_function_marker_runs_the_body_in_the_scope(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from beta_middleware import current_betas

        @pytest.mark.betas("a-1", ["b-2", "c-3"])
        def test_marked():
            assert current_betas() == ("a-1", "b-2", "c-3")

        def test_unmarked_after_marked():
            assert current_betas() == ()

        @pytest.mark.betas()
        def test_empty_marker():
            assert current_betas() == ()
        """
    )
    run(pytester).assert_outcomes(passed=3)


def test_fixtures_run_outside_the_scope_and_the_body_inside(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from beta_middleware import betas, current_betas

        @pytest.fixture
        def seen():
            assert current_betas() == ()
            yield ["fixture"]
            assert current_betas() == ()

        @pytest.fixture
        def with_own_scope():
            with betas("fixture-1"):
                yield current_betas()

        @pytest.mark.betas("a-1")
        def test_uses_fixtures(seen, tmp_path):
            assert seen == ["fixture"]
            assert tmp_path.is_dir()
            assert current_betas() == ("a-1",)

        @pytest.mark.betas("a-1")
        def test_the_marker_nests_inside_a_scope_a_fixture_holds(with_own_scope):
            assert with_own_scope == ("fixture-1",)
            assert current_betas() == ("fixture-1", "a-1")

        @pytest.mark.betas("a-1")
        @pytest.mark.parametrize("n", [1, 2])
        def test_parametrized(n):
            assert current_betas() == ("a-1",)
        """
    )
    run(pytester).assert_outcomes(passed=4)


def test_module_class_and_function_markers_nest_in_that_order(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from beta_middleware import current_betas

        pytestmark = pytest.mark.betas("module-1")

        def test_module_only():
            assert current_betas() == ("module-1",)

        @pytest.mark.betas("class-1")
        class TestClass:
            def test_class(self):
                assert current_betas() == ("module-1", "class-1")

            @pytest.mark.betas("function-1", "module-1")
            def test_function(self):
                assert current_betas() == ("module-1", "class-1", "function-1")

            @pytest.mark.betas("outer-1")
            @pytest.mark.betas("inner-1")
            def test_stacked_markers_nest_like_decorators(self):
                assert current_betas() == ("module-1", "class-1", "outer-1", "inner-1")

            @pytest.mark.betas("only-1", replace=True)
            def test_replace(self):
                assert current_betas() == ("only-1",)

            @pytest.mark.betas(replace=True)
            def test_replace_with_nothing(self):
                assert current_betas() == ()

        @pytest.mark.betas("class-2", replace=True)
        class TestReplacingClass:
            @pytest.mark.betas("function-2")
            def test_function_adds_to_the_replacing_class(self):
                assert current_betas() == ("class-2", "function-2")

        @pytest.mark.parametrize("n", [pytest.param(1, marks=pytest.mark.betas("param-1")), 2])
        @pytest.mark.betas("function-3")
        def test_param_marker_is_a_function_marker(n):
            # pytest decides the order of a function's own markers and its parameters' marks
            expected = {"function-3", "param-1"} if n == 1 else {"function-3"}
            assert current_betas()[0] == "module-1"
            assert set(current_betas()[1:]) == expected
        """
    )
    run(pytester).assert_outcomes(passed=9)


ASYNC_TESTS = """
    import asyncio
    import pytest
    from beta_middleware import current_betas

    pytestmark = pytest.mark.betas("module-1")

    @pytest.fixture
    async def async_fixture():
        await asyncio.sleep(0)
        assert current_betas() == ()
        yield "value"
        assert current_betas() == ()

    {mark}
    @pytest.mark.betas("function-1")
    async def test_async_body(async_fixture):
        assert async_fixture == "value"
        assert current_betas() == ("module-1", "function-1")
        await asyncio.sleep(0)
        assert current_betas() == ("module-1", "function-1")

    {mark}
    @pytest.mark.betas("function-2", replace=True)
    async def test_tasks_created_in_the_body_see_the_scope():
        task = asyncio.get_running_loop().create_task(asyncio.sleep(0, current_betas()))
        assert await task == ("function-2",)

    {mark}
    @pytest.mark.betas("class-1")
    class TestAsync:
        async def test_method(self, async_fixture):
            assert current_betas() == ("module-1", "class-1")

    {mark}
    async def test_unmarked_async_after_marked_ones():
        assert current_betas() == ("module-1",)

    def test_sync_in_the_same_module():
        assert current_betas() == ("module-1",)
    """


def test_async_tests_run_by_pytest_asyncio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        ASYNC_TESTS.replace("pytest.fixture", "pytest_asyncio.fixture")
        .replace("import pytest\n", "import pytest\n    import pytest_asyncio\n")
        .format(mark="@pytest.mark.asyncio")
    )
    run(pytester, "-p", "no:anyio").assert_outcomes(passed=5)


def test_async_tests_in_pytest_asyncio_auto_mode_with_a_module_loop(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = module\n"
        "asyncio_default_test_loop_scope = module\n"
    )
    pytester.makepyfile(ASYNC_TESTS.format(mark=""))
    run(pytester, "-p", "no:anyio").assert_outcomes(passed=5)


def test_async_tests_run_by_anyio(pytester: pytest.Pytester) -> None:
    # anyio runs every test of a module in one long-lived runner task, whose context was
    # copied when it started: only a scope entered inside the test body can be seen.
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="module")
        def anyio_backend():
            return "asyncio"
        """
    )
    pytester.makeini("[pytest]\n")  # pytest-asyncio's option is unknown without it
    pytester.makepyfile(ASYNC_TESTS.format(mark="@pytest.mark.anyio"))
    run(pytester, "-p", "no:asyncio").assert_outcomes(passed=5)


def test_unittest_test_cases(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import unittest
        import pytest
        from beta_middleware import current_betas

        @pytest.mark.betas("class-1")
        class TestSync(unittest.TestCase):
            def setUp(self):
                assert current_betas() == ()

            def test_method(self):
                assert current_betas() == ("class-1",)

        @pytest.mark.betas("class-2")
        class TestAsync(unittest.IsolatedAsyncioTestCase):
            async def test_method(self):
                await asyncio.sleep(0)
                assert current_betas() == ("class-2",)

        def test_after():
            assert current_betas() == ()
        """
    )
    run(pytester).assert_outcomes(passed=3)


def test_a_marker_added_by_a_fixture_applies(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from beta_middleware import current_betas

        @pytest.fixture(autouse=True)
        def add_marker(request):
            request.node.add_marker(pytest.mark.betas("dynamic-1"))

        @pytest.mark.betas("static-1")
        def test_both():
            # pytest decides where a marker added later goes among the function's markers
            assert set(current_betas()) == {"static-1", "dynamic-1"}

        @pytest.fixture
        def bad_marker(request):
            request.node.add_marker(pytest.mark.betas("bad name"))

        def test_bad(bad_marker):
            raise AssertionError("the body ran")
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["@pytest.mark.betas('bad name'): invalid beta name 'bad name': it contains a space"]
    )
    result.stdout.no_fnmatch_line("*the body ran*")


def test_items_of_other_plugins_run_in_the_scope(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                item.add_marker(pytest.mark.betas("doctest-1"))
        """
    )
    pytester.makepyfile(
        '''
        def active():
            """
            >>> from beta_middleware import current_betas
            >>> current_betas()
            ('doctest-1',)
            """
        '''
    )
    run(pytester, "--doctest-modules").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('"bad name"', "@pytest.mark.betas('bad name'): invalid beta name 'bad name': it contains a space"),
        (
            '"a-1", "x,y"',
            "@pytest.mark.betas('a-1', 'x,y'): invalid beta name 'x,y': a comma would split it*",
        ),
        ("42", "@pytest.mark.betas(42): invalid beta name 42: expected a str *, got int"),
        (
            '"a-1", replce=True',
            "@pytest.mark.betas('a-1', replce=True): *unexpected keyword argument 'replce'*",
        ),
    ],
)
def test_invalid_marker_fails_at_setup_with_the_message(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.fixture
        def fixture():
            raise AssertionError("the fixture was set up")

        @pytest.mark.betas({marker})
        def test_bad(fixture):
            raise AssertionError("the body ran")

        def test_other():
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at setup of test_bad*", message])
    result.stdout.no_fnmatch_line("*During handling*")
    result.stdout.no_fnmatch_line("*the fixture was set up*")
    result.stdout.no_fnmatch_line("*the body ran*")


def test_invalid_module_marker_fails_each_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.betas("caf\u00e9")

        def test_one():
            pass

        async def test_two():
            pass
        """
    )
    result = run(pytester, "-p", "no:anyio", "-o", "asyncio_mode=auto")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*invalid beta name 'caf\u00e9': it contains the non-ASCII character*"] * 2)


UNMARKED_PROJECT = """
    import asyncio
    import sys
    import unittest
    import pytest
    from beta_middleware import current_betas

    @pytest.fixture
    def value():
        return 1

    def test_plain(request):
        assert request.node.obj is sys.modules[__name__].test_plain
        assert current_betas() == ()

    @pytest.mark.parametrize("n", [1, 2])
    def test_with_fixture(value, n):
        assert value == 1

    async def test_async():
        await asyncio.sleep(0)
        assert current_betas() == ()

    class TestCase(unittest.TestCase):
        def test_method(self):
            assert type(self).__dict__["test_method"].__name__ == "test_method"

    def test_failing():
        assert 1 == 2

    @pytest.mark.xfail(strict=True)
    def test_xfail():
        assert False

    @pytest.mark.skip(reason="skipped")
    def test_skipped():
        pass
    """


def test_a_project_without_the_marker_sees_no_change(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(UNMARKED_PROJECT)
    args = ("-p", "no:anyio", "-o", "asyncio_mode=auto")
    with_plugin = run(pytester, *args)
    without_plugin = run(pytester, "-p", "no:beta_middleware", *args)
    expected = {"passed": 5, "failed": 1, "xfailed": 1, "skipped": 1}
    with_plugin.stdout.fnmatch_lines(["plugins: *beta-middleware*"])
    without_plugin.stdout.no_fnmatch_line("plugins: *beta-middleware*")
    assert with_plugin.parseoutcomes() == without_plugin.parseoutcomes()
    with_plugin.assert_outcomes(**expected)
    without_plugin.assert_outcomes(**expected)


def test_without_the_plugin_the_marker_is_unknown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.betas("a-1")
        def test_marked():
            pass
        """
    )
    # In a subprocess: pytest remembers registered markers process-wide.
    result = pytester.runpytest_subprocess(*STRICT, "-p", "no:beta_middleware")
    result.stdout.fnmatch_lines(["*'betas' not found in `markers` configuration option*"])
    assert result.ret != 0
